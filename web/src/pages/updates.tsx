/**
 * Software updates for technicians (docs/updates.md): the fleet's versions
 * per area, the signed releases (which trusted key verified each, files
 * received, upload, retire) and the rollouts (status and counts, a new one
 * with its dry run). One rollout's live view is pages/rollout.tsx.
 */
import { useState } from 'preact/hooks';
import { api, qs } from '../api.ts';
import { errorText, useApi } from '../hooks.ts';
import { formatTime, t } from '../i18n.ts';
import type { AreaView, FleetVersions, Me, ReleaseList, ReleaseView, RolloutList } from '../../../api/index.ts';
import { ReleaseUpload } from '../components/release-upload.tsx';
import { RolloutForm } from '../components/rollout-form.tsx';
import { formatBytes, targetText, wordCode } from '../update-words.ts';
import { deviceKind } from '../site-words.ts';
import '../components/updates.css';

export function UpdatesPage(props: { me: Me; query: URLSearchParams }) {
  const canRelease = props.me.permissions.includes('release.write');
  const canRollout = props.me.permissions.includes('rollout.write');
  const [showRetired, setShowRetired] = useState(false);
  const releases = useApi<ReleaseList>(`/api/releases${qs({ includeRetired: showRetired || undefined })}`);
  const rollouts = useApi<RolloutList>('/api/rollouts?limit=50');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');

  return (
    <section class="updates">
      <h1>{t('updates')}</h1>
      <FleetVersionsView me={props.me} area={props.query.get('area') ?? ''} communes={communes.data?.areas ?? []} />

      <h2>{t('updRollouts')}</h2>
      {rollouts.error && <p class="error">{rollouts.error}</p>}
      <div class="scroll">
        <table class="wide" data-testid="rollouts">
          <thead>
            <tr>
              <th>{t('updRolloutOf')}</th>
              <th>{t('status')}</th>
              <th>{t('updWave')}</th>
              <th>{t('updCounts')}</th>
              <th>{t('updCreated')}</th>
            </tr>
          </thead>
          <tbody>
            {rollouts.data?.rollouts.length === 0 && (
              <tr>
                <td colSpan={5} class="muted">
                  {t('updNoRollouts')}
                </td>
              </tr>
            )}
            {rollouts.data?.rollouts.map((r) => (
              <tr data-rollout={r.id}>
                <td>
                  <a href={`/updates/rollouts/${encodeURIComponent(r.id)}`}>
                    {wordCode('updComponent_', r.component)} {r.version ?? ''}
                  </a>
                </td>
                <td>
                  <span class={`pill rollout-${r.status}`}>{wordCode('rolloutStatus_', r.status)}</span>
                </td>
                <td>{r.wave + 1}</td>
                <td>{t('updCountsText', { ...r.counts })}</td>
                <td>{formatTime(r.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {canRollout && (
        <RolloutForm
          me={props.me}
          releases={(releases.data?.releases ?? []).filter((r) => r.complete && !r.retired)}
          communes={communes.data?.areas ?? []}
          onCreated={rollouts.reload}
        />
      )}

      <h2>{t('updReleases')}</h2>
      {releases.error && <p class="error">{releases.error}</p>}
      {releases.data && (
        <p class="muted" data-testid="trusted-keys">
          {releases.data.trustedKeys.length ? t('updTrustedKeys', { keys: releases.data.trustedKeys.join(', ') }) : t('updTrustedNone')}
        </p>
      )}
      <label class="upd-check">
        <input type="checkbox" name="showRetired" checked={showRetired} onChange={(e) => setShowRetired(e.currentTarget.checked)} /> {t('updShowRetired')}
      </label>
      <div class="scroll">
        <table class="wide" data-testid="releases">
          <thead>
            <tr>
              <th>{t('updComponent')}</th>
              <th>{t('updVersion')}</th>
              <th>{t('updTarget')}</th>
              <th>{t('updFiles')}</th>
              <th>{t('updSignature')}</th>
              <th>{t('status')}</th>
              {canRelease && <th />}
            </tr>
          </thead>
          <tbody>
            {releases.data?.releases.length === 0 && (
              <tr>
                <td colSpan={canRelease ? 7 : 6} class="muted">
                  {t('updNoReleases')}
                </td>
              </tr>
            )}
            {releases.data?.releases.map((r) => (
              <ReleaseRow r={r} canRetire={canRelease} onChange={releases.reload} />
            ))}
          </tbody>
        </table>
      </div>
      {canRelease && <ReleaseUpload onChange={releases.reload} />}
    </section>
  );
}

function ReleaseRow(props: { r: ReleaseView; canRetire: boolean; onChange: () => void }) {
  const { r } = props;
  const [confirming, setConfirming] = useState(false);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const got = r.files.filter((f) => f.received).length;
  const retire = async () => {
    try {
      await api<ReleaseView>('POST', `/api/releases/${encodeURIComponent(r.id)}/retire`);
      setMsg({ ok: true, text: t('updRetired_done', { id: r.id }) });
      props.onChange();
    } catch (e) {
      setMsg({ ok: false, text: e instanceof Error ? errorText(e) : String(e) });
    }
    setConfirming(false);
  };
  return (
    <tr data-release={r.id}>
      <td>{wordCode('updComponent_', r.component)}</td>
      <td>
        <strong>{r.version}</strong>
        <div class="muted">{r.id}</div>
      </td>
      <td>{targetText(r.target)}</td>
      <td data-testid="release-files">{t('updFilesReceived', { got, all: r.files.length, bytes: formatBytes(r.receivedBytes), total: formatBytes(r.totalBytes) })}</td>
      <td data-testid="release-signature" class={r.verifiedKeyId ? 'ok' : 'error'}>
        {r.verifiedKeyId ? t('updVerifiedBy', { keyId: r.verifiedKeyId }) : t('updNotVerified')}
      </td>
      <td data-testid="release-state">
        {r.retired ? t('updRetired') : r.complete ? t('updComplete') : t('updIncomplete')}
        <div class="muted">{formatTime(r.createdAt)}</div>
      </td>
      {props.canRetire && (
        <td class="upd-actions">
          {!r.retired && !confirming && (
            <button type="button" class="secondary" data-testid="retire" onClick={() => setConfirming(true)}>
              {t('updRetire')}
            </button>
          )}
          {confirming && (
            <div class="upd-confirm" data-testid="retire-confirm">
              <span>{t('updRetireConfirm', { id: r.id })}</span>
              <button type="button" class="danger" onClick={retire}>
                {t('updConfirmYes')}
              </button>
              <button type="button" class="secondary" onClick={() => setConfirming(false)}>
                {t('cancel')}
              </button>
            </div>
          )}
          {msg && <div class={msg.ok ? 'ok' : 'error'}>{msg.text}</div>}
        </td>
      )}
    </tr>
  );
}

/** Versions as "1.2.0: 14 trạm", the most common first. */
function versionList(counts: Record<string, number>, key: 'updVersionSites' | 'updVersionDevices'): string {
  return Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([v, n]) => t(key, { version: v === 'unknown' ? t('updVersionUnknown') : v, n }))
    .join(', ');
}

function firmwareList(fw: Record<string, Record<string, number>>): string {
  return Object.entries(fw)
    .map(([kind, counts]) => `${deviceKind(kind)} — ${versionList(counts, 'updVersionDevices')}`)
    .join('; ');
}

function FleetVersionsView(props: { me: Me; area: string; communes: AreaView[] }) {
  const [area, setArea] = useState(props.area);
  const v = useApi<FleetVersions>(`/api/fleet/versions${qs({ area })}`);
  const rows = (v.data?.areas ?? []).filter((a) => a.sites > 0);
  return (
    <>
      <h2>{t('updFleetVersions')}</h2>
      <div class="row">
        <select name="versionsArea" aria-label={t('updFleetArea')} value={area} onChange={(e) => setArea(e.currentTarget.value)}>
          <option value="">{props.me.areaName ?? t('whole')}</option>
          {props.communes.map((a) => (
            <option value={a.key}>{a.name}</option>
          ))}
        </select>
      </div>
      {v.error && <p class="error">{v.error}</p>}
      {v.data && (
        <div class="scroll">
          <table data-testid="fleet-versions">
            <thead>
              <tr>
                <th>{t('updFleetArea')}</th>
                <th>{t('updFleetSites')}</th>
                <th>{t('updAgentVersions')}</th>
                <th>{t('updFirmwareVersions')}</th>
              </tr>
            </thead>
            <tbody>
              <tr data-area={v.data.area.key}>
                <td>
                  <strong>{v.data.area.name}</strong>
                </td>
                <td>{v.data.total.sites}</td>
                <td data-testid="agent-versions">{v.data.total.sites ? versionList(v.data.total.agent, 'updVersionSites') : t('updNoVersions')}</td>
                <td>{firmwareList(v.data.total.firmware)}</td>
              </tr>
              {rows.map((a) => (
                <tr data-area={a.key}>
                  <td>{a.key === v.data!.area.key ? t('updAreaOwn', { name: a.name }) : a.name}</td>
                  <td>{a.sites}</td>
                  <td>{versionList(a.agent, 'updVersionSites')}</td>
                  <td>{firmwareList(a.firmware)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
