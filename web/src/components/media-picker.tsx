/**
 * Choose a bulletin from the media library, upload a new one (with progress:
 * a 20 MB file over 4G takes a while), or make one from text by speech. The
 * chosen item can be listened to in the browser. Only bulletins are offered:
 * the server lists alert audio apart (GET /api/media lists purpose bulletin).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, uploadWithProgress } from '../api.ts';
import { formatNumber, t, type StringKey } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { MediaEntry, MediaItem, MediaJob, MediaList } from '../../../api/index.ts';

/** How often a job being made is asked about (ms): a TTS bulletin takes tens of seconds on a busy server. */
const JOB_POLL_MS = 1000;

/** What the picker and the library table show of an item. */
export type MediaSummary = Pick<MediaItem, 'id' | 'title' | 'durationMs' | 'lang'>;

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/**
 * The server answers an upload or a speech at once (waitMs=0) with the item or
 * its job; a job is followed until it is ready or fails, each step shown
 * through `onJob`, and given up once its form is gone (`alive` false).
 */
export function followMedia(entry: MediaEntry, onJob: (job: MediaJob) => void, alive: () => boolean): Promise<MediaItem> {
  if (entry.status === 'ready') return Promise.resolve(entry);
  // A failed job words its code and params like any refusal (the English reason only as technical detail).
  if (entry.status === 'failed')
    return Promise.reject(
      entry.code
        ? new ApiError(entry.statusCode ?? 422, entry.code, entry.reason ?? entry.code, { params: { ...entry.params, text: entry.reason ?? '' } })
        : new Error(t('processing')),
    );
  onJob(entry);
  return new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS)).then(() => {
    if (!alive()) throw new Error('closed');
    return api<MediaEntry>('GET', `/api/media/${encodeURIComponent(entry.id)}`).then((e) => followMedia(e, onJob, alive));
  });
}

export function MediaPicker(props: { value: string; onChange: (id: string) => void; canWrite: boolean }) {
  const lib = useApi<MediaList>('/api/media?purpose=bulletin&limit=200');
  const [progress, setProgress] = useState<number | null>(null);
  const [busy, setBusy] = useState('');
  const [error, setError] = useState('');
  const [ttsTitle, setTtsTitle] = useState('');
  const [ttsText, setTtsText] = useState('');
  /** The job being made now: its stage and percent, shown until it is ready or fails. */
  const [job, setJob] = useState<MediaJob | null>(null);
  const alive = useRef(true);
  useEffect(() => () => void (alive.current = false), []);

  const done = (item: MediaItem) => {
    lib.reload();
    props.onChange(item.id);
    setBusy('');
    setProgress(null);
    setJob(null);
  };
  const fail = (e: unknown) => {
    setError(e instanceof ApiError ? e.message : String(e));
    setBusy('');
    setProgress(null);
    setJob(null);
  };
  const follow = (entry: MediaEntry) => followMedia(entry, setJob, () => alive.current);

  const upload = (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    const form = new FormData();
    form.append('title', file.name.replace(/\.[^.]+$/, ''));
    form.append('file', file);
    setError('');
    setProgress(0);
    uploadWithProgress<MediaEntry>('/api/media?waitMs=0', form, (share) => {
      setProgress(share);
      if (share >= 1) setBusy(t('processing'));
    })
      // The upload's bar stays (full) beside the processing stage until the item is ready or fails.
      .then(follow)
      .then(done, fail);
    input.value = '';
  };

  const speak = (e: Event) => {
    e.preventDefault();
    setError('');
    setBusy(t('processing'));
    api<MediaEntry>('POST', '/api/media/tts?waitMs=0', { title: ttsTitle, text: ttsText })
      .then(follow)
      .then((item) => {
        setTtsText('');
        setTtsTitle('');
        done(item);
      }, fail);
  };

  const items = lib.data?.items ?? [];
  return (
    <div>
      <div class="row">
        <label>
          {t('media')}
          <select name="mediaId" value={props.value} onChange={(e) => props.onChange(e.currentTarget.value)} required>
            <option value="">{t('chooseMedia')}</option>
            {items.map((m) => (
              <option value={m.id}>
                {m.title} ({formatDuration(m.durationMs)})
              </option>
            ))}
          </select>
        </label>
        {/* biome-ignore lint/a11y/useMediaCaption: the operator's own bulletin, played to check it before scheduling; no caption track exists for it */}
        {props.value && <audio controls preload="none" src={`/api/media/${encodeURIComponent(props.value)}/audio`} data-testid="media-player" />}
      </div>
      {props.canWrite && (
        <details>
          <summary>
            {t('upload')} / {t('tts')}
          </summary>
          <div class="row">
            <label>
              {t('upload')}
              <input type="file" name="file" accept="audio/*,.mp3,.wav,.ogg,.m4a" onChange={upload} />
            </label>
            {progress !== null && (
              <span data-testid="upload-progress">
                <progress max={1} value={progress} /> {busy || t('uploading', { pct: formatNumber(Math.round(progress * 100), 0, '%') })}
              </span>
            )}
          </div>
          <div class="row">
            <label>
              {t('title')}
              <input name="ttsTitle" value={ttsTitle} onInput={(e) => setTtsTitle(e.currentTarget.value)} />
            </label>
            <label style="flex:1">
              {t('text')}
              <textarea name="ttsText" rows={2} value={ttsText} onInput={(e) => setTtsText(e.currentTarget.value)} />
            </label>
            <button type="button" class="secondary" disabled={!ttsTitle || !ttsText || busy !== ''} onClick={speak}>
              {t('makeSpeech')}
            </button>
          </div>
          {job && (
            <p class="muted" data-testid="media-job" data-stage={job.stage}>
              <progress max={100} value={job.percent} /> {t('mediaMaking', { stage: t(`mediaStage_${job.stage}` as StringKey), pct: formatNumber(job.percent, 0, '%') })}
            </p>
          )}
          {busy && progress === null && !job && <p class="muted">{busy}</p>}
        </details>
      )}
      {error && <p class="error">{error}</p>}
    </div>
  );
}
