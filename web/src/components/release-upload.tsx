/**
 * Uploading a signed release from the browser, as `npm run release -- upload`
 * does (tools/release.ts uploadRelease): the manifest's exact bytes (base64)
 * with the signatures of its .sig files (POST /api/releases), then each file
 * of the manifest as its raw bytes (PUT /api/releases/{id}/files/{path}),
 * with progress. Every file is checked against the manifest's sizes first, so
 * nothing is sent that the server would refuse for its size; a release the
 * server already has (an upload cut short) is completed with what it lacks.
 */
import { useState } from 'preact/hooks';
import { api, ApiError, uploadWithProgress } from '../api.ts';
import { errorText } from '../hooks.ts';
import { formatNumber, formatShare, t } from '../i18n.ts';
import type { ReleaseCreateRequest, ReleaseSignature, ReleaseView } from '../../../api/index.ts';
import { formatBytes } from '../update-words.ts';

/** The manifest fields the upload needs before the server has read it. */
interface ManifestFiles {
  files: Array<{ path: string; size: number }>;
}

function base64(bytes: Uint8Array): string {
  let bin = '';
  // In slices: String.fromCharCode with a whole manifest's bytes as arguments would overflow the call stack.
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function isSignatureList(x: unknown): x is ReleaseSignature[] {
  return Array.isArray(x) && x.every((s) => typeof s === 'object' && s !== null && typeof s.keyId === 'string' && typeof s.sig === 'string');
}

export function ReleaseUpload(props: { onChange: () => void }) {
  const [manifest, setManifest] = useState<File | null>(null);
  const [sigs, setSigs] = useState<File[]>([]);
  const [files, setFiles] = useState<File[]>([]);
  const [busy, setBusy] = useState(false);
  const [log, setLog] = useState<Array<{ ok: boolean; text: string }>>([]);
  const [progress, setProgress] = useState<{ name: string; share: number } | null>(null);

  const upload = async (e: Event) => {
    e.preventDefault();
    if (!manifest) return;
    const lines: Array<{ ok: boolean; text: string }> = [];
    const say = (ok: boolean, text: string) => {
      lines.push({ ok, text });
      setLog([...lines]);
    };
    setBusy(true);
    setLog([]);
    try {
      const bytes = new Uint8Array(await manifest.arrayBuffer());
      let parsed: ManifestFiles;
      try {
        parsed = JSON.parse(new TextDecoder().decode(bytes)) as ManifestFiles;
        if (!Array.isArray(parsed.files)) throw new Error('no files');
      } catch {
        return say(false, t('updUploadManifestBad'));
      }
      const signatures: ReleaseSignature[] = [];
      for (const f of sigs) {
        let list: unknown;
        try {
          list = JSON.parse(await f.text());
        } catch {
          list = null;
        }
        if (!isSignatureList(list)) return say(false, t('updUploadSigBad', { name: f.name }));
        signatures.push(...list.map((s) => ({ keyId: s.keyId, sig: s.sig })));
      }
      const byName = new Map(files.map((f) => [f.name, f]));
      for (const entry of parsed.files) {
        const f = byName.get(entry.path);
        if (!f) return say(false, t('updUploadMissing', { name: entry.path }));
        if (f.size !== entry.size) return say(false, t('updUploadWrongSize', { name: entry.path, got: formatNumber(f.size), want: formatNumber(entry.size) }));
      }
      let release: ReleaseView;
      try {
        release = await api<ReleaseView, ReleaseCreateRequest>('POST', '/api/releases', { manifest: base64(bytes), signatures });
        say(true, t('updUploadStored', { id: release.id, keyId: release.verifiedKeyId ?? '—' }));
      } catch (err) {
        // Already stored (an upload cut short, or sent again): complete it when it is the same manifest.
        const existing = err instanceof ApiError && err.code === 'LOANET_RELEASE_EXISTS' ? err.details.params?.id : undefined;
        if (typeof existing !== 'string') throw err;
        release = await api<ReleaseView>('GET', `/api/releases/${encodeURIComponent(existing)}`);
        const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
        const hex = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
        if (release.manifestSha256 !== hex) return say(false, t('updUploadOtherManifest', { id: release.id }));
        say(true, t('updUploadResume', { id: release.id }));
      }
      props.onChange();
      for (const entry of release.files) {
        if (entry.received) continue;
        const f = byName.get(entry.path)!;
        setProgress({ name: entry.path, share: 0 });
        release = await uploadWithProgress<ReleaseView>(
          `/api/releases/${encodeURIComponent(release.id)}/files/${encodeURIComponent(entry.path)}`,
          f,
          (share) => setProgress({ name: entry.path, share }),
          'PUT',
        );
        say(true, t('updUploadSent', { name: `${entry.path} (${formatBytes(entry.size)})` }));
        props.onChange();
      }
      setProgress(null);
      if (release.complete) say(true, t('updUploadDone', { id: release.id }));
    } catch (err) {
      say(false, err instanceof Error ? errorText(err) : String(err));
    } finally {
      setProgress(null);
      setBusy(false);
      props.onChange();
    }
  };

  return (
    <form class="card upd-form" onSubmit={upload} data-testid="release-upload">
      <h3>{t('updUpload')}</h3>
      <p class="muted">{t('updUploadHelp')}</p>
      <div class="upd-fields">
        <label>
          {t('updManifestFile')}
          <input type="file" name="manifest" accept=".json,application/json" required onChange={(e) => setManifest(e.currentTarget.files?.[0] ?? null)} />
        </label>
        <label>
          <span>
            {t('updSigFiles')} <code>.sig</code>
          </span>
          <input type="file" name="signatures" multiple required onChange={(e) => setSigs([...(e.currentTarget.files ?? [])])} />
        </label>
        <label>
          {t('updPayloadFiles')}
          <input type="file" name="files" multiple required onChange={(e) => setFiles([...(e.currentTarget.files ?? [])])} />
        </label>
      </div>
      <button type="submit" disabled={busy || !manifest}>
        {t('updUploadStart')}
      </button>
      {progress && (
        <div data-testid="upload-progress">
          <span class="muted">{t('updUploadSending', { name: progress.name, share: formatShare(progress.share) })}</span>
          <div class="bar">
            <span style={`width:${Math.round(progress.share * 100)}%`} />
          </div>
        </div>
      )}
      <ul class="upd-log" data-testid="upload-log">
        {log.map((l) => (
          <li class={l.ok ? 'ok' : 'error'}>{l.text}</li>
        ))}
      </ul>
    </form>
  );
}
