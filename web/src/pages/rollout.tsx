/**
 * One rollout, live: each wave's counts and whether it passed, runs or is to
 * come; each site's state, its own latest report, bytes, failure reason and
 * times (Asia/Ho_Chi_Minh); the sites held back and why; pause, resume and
 * abort, each confirmed first. The console's event stream carries no rollout
 * event, so the page asks again every few seconds while it is visible and the
 * rollout can still move.
 */
import { useEffect, useState } from 'preact/hooks';
import { api } from '../api.ts';
import { errorText, useApi } from '../hooks.ts';
import { formatNumber, formatShare, formatTime, keyOf, t } from '../i18n.ts';
import type { Me, RolloutActionRequest, RolloutDetail, RolloutReason } from '../../../api/index.ts';
import { formatBytes, wordCode } from '../update-words.ts';
import '../components/updates.css';

const POLL_MS = 3000;
type Action = 'pause' | 'resume' | 'abort';
const CONFIRM = { pause: 'updConfirmPause', resume: 'updConfirmResume', abort: 'updConfirmAbort' } as const;
const LABEL = { pause: 'updPause', resume: 'updResume', abort: 'updAbort' } as const;
const DONE = { pause: 'updDone_pause', resume: 'updDone_resume', abort: 'updDone_abort' } as const;

/** Whether anything on the page can still change: a running rollout, or a stopped one with sites still installing. */
const moving = (r: RolloutDetail) => r.status === 'running' || r.counts.installing > 0;

/** Ask again every POLL_MS while the tab is visible (a hidden tab asks nothing; shown again, it asks at once). */
function usePoll(reload: () => void, on: boolean): void {
  useEffect(() => {
    if (!on) return;
    let timer: number | undefined;
    const arm = () => {
      window.clearInterval(timer);
      timer = document.visibilityState === 'visible' ? window.setInterval(reload, POLL_MS) : undefined;
    };
    const onVisibility = () => {
      if (document.visibilityState === 'visible') reload();
      arm();
    };
    arm();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [reload, on]);
}

/** A number in a reason as the language writes it: whole, or with one decimal ("7,5"). */
const reasonNumber = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : formatNumber(v, 1)) : '—');
const reasonText = (v: unknown) => (typeof v === 'string' && v ? v : '—');

/**
 * Why the rollout's status last changed, worded from its code and params (the
 * server sends no sentence): the rollout's own decisions, or a person's, their
 * own words kept as they typed them. A code this console does not know yet
 * reads as the code.
 */
function rolloutReasonWords(r: RolloutReason): string {
  const p = r.params;
  const k = keyOf('rolloutReason_', r.code);
  if (!k) return r.code;
  switch (r.code) {
    case 'paused_by':
    case 'resumed_by':
    case 'aborted_by': {
      const words = t(k, { by: typeof p.by === 'string' && p.by ? p.by : t('rolloutReasonSomeone') });
      return typeof p.text === 'string' && p.text ? t('rolloutReasonText', { words, text: p.text }) : words;
    }
    default:
      return t(k, {
        wave: reasonText(p.wave),
        next: reasonText(p.next),
        failed: reasonNumber(p.failed),
        finished: reasonNumber(p.finished),
        thresholdPct: reasonNumber(p.thresholdPct),
      });
  }
}

export function RolloutPage(props: { me: Me; id: string }) {
  const r = useApi<RolloutDetail>(`/api/rollouts/${encodeURIComponent(props.id)}`);
  const can = props.me.permissions.includes('rollout.write');
  const [asking, setAsking] = useState<Action | null>(null);
  const [why, setWhy] = useState('');
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  usePoll(r.reload, r.data ? moving(r.data) : false);

  if (r.error && !r.data) return <p class="error">{r.error}</p>;
  if (!r.data) return <p class="muted">{t('loading')}</p>;
  const d = r.data;
  // Stopped by its own error threshold: said as an error; any other reason as a note.
  const stoppedAtThreshold = d.reason?.code === 'error_threshold' && (d.status === 'paused' || d.status === 'aborted');

  const act = async (action: Action) => {
    try {
      const body: RolloutActionRequest = why.trim() ? { reason: why.trim() } : {};
      await api<RolloutDetail, RolloutActionRequest>('POST', `/api/rollouts/${encodeURIComponent(d.id)}/${action}`, body);
      setMsg({ ok: true, text: t(DONE[action]) });
      setWhy('');
    } catch (e) {
      setMsg({ ok: false, text: e instanceof Error ? errorText(e) : String(e) });
    }
    setAsking(null);
    r.reload();
  };
  const offered: Action[] = d.status === 'running' ? ['pause', 'abort'] : d.status === 'paused' ? ['resume', 'abort'] : [];
  const names = new Map(d.siteList.map((s) => [s.siteId, s.name ?? s.siteId]));

  return (
    <section class="updates" data-testid="rollout" data-status={d.status}>
      <p>
        <a href="/updates">{t('updBackToUpdates')}</a>
      </p>
      <h1>{t('updRollout', { id: d.id })}</h1>
      <div class="card">
        <p>
          {t('updRolloutRelease', { component: wordCode('updComponent_', d.component), version: d.version ?? '' })} ·{' '}
          <span class={`pill rollout-${d.status}`} data-testid="rollout-status">
            {wordCode('rolloutStatus_', d.status)}
          </span>{' '}
          · {t('updCountsText', { ...d.counts })}
        </p>
        {d.reason && (
          <p class={stoppedAtThreshold ? 'error' : 'muted'} data-testid={stoppedAtThreshold ? 'rollout-threshold' : 'rollout-reason'} data-code={d.reason.code}>
            {rolloutReasonWords(d.reason)}
          </p>
        )}
        <p class="muted">
          {t('updSettings', {
            success: formatShare(d.spec.successThreshold),
            error: formatShare(d.spec.errorThreshold),
            minFinished: d.spec.minFinished,
            maxInFlight: d.spec.maxInFlight,
            margin: Math.round(d.spec.broadcastMarginMs / 60_000),
          })}
        </p>
        <p class="muted">
          {t('updCreated')}: {formatTime(d.createdAt)}
          {moving(d) ? ` · ${t('updRefreshing')}` : ''}
        </p>
        {can && offered.length > 0 && (
          <div class="row" data-testid="rollout-actions">
            {offered.map((a) => (
              <button type="button" class={a === 'abort' ? 'danger' : 'secondary'} data-action={a} onClick={() => (setAsking(a), setMsg(null))}>
                {t(LABEL[a])}
              </button>
            ))}
          </div>
        )}
        {asking && (
          <div class="card upd-confirm" data-testid="action-confirm" data-action={asking}>
            <p>{t(CONFIRM[asking])}</p>
            <label>
              {t('updActionReason')}
              <input name="actionReason" maxLength={500} value={why} onInput={(e) => setWhy(e.currentTarget.value)} />
            </label>
            <div class="row">
              <button type="button" class={asking === 'abort' ? 'danger' : ''} data-testid="confirm-yes" onClick={() => act(asking)}>
                {t('updConfirmYes')}
              </button>
              <button type="button" class="secondary" onClick={() => setAsking(null)}>
                {t('cancel')}
              </button>
            </div>
          </div>
        )}
        {msg && (
          <p class={msg.ok ? 'ok' : 'error'} data-testid="action-result">
            {msg.text}
          </p>
        )}
      </div>

      <h2>{t('updWaves')}</h2>
      <div class="scroll">
        <table data-testid="rollout-waves">
          <thead>
            <tr>
              <th>{t('updWave')}</th>
              <th>{t('updFleetSites')}</th>
              <th>{t('updCounts')}</th>
              <th>{t('updWaveState')}</th>
            </tr>
          </thead>
          <tbody>
            {d.waves.map((w, i) => (
              <tr data-wave={i}>
                <td>{w.name}</td>
                <td>{w.size}</td>
                <td>{t('updCountsText', { waiting: w.waiting, installing: w.installing, updated: w.updated, failed: w.failed })}</td>
                <td>{i < d.wave || d.status === 'completed' ? t('updWaveDone') : i === d.wave ? wordCode('rolloutStatus_', d.status) : t('updWaveNext')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>

      {d.held.length > 0 && (
        <>
          <h2>{t('updHeld')}</h2>
          <ul data-testid="rollout-held">
            {d.held.map((h) => (
              <li data-site={h.siteId} data-why={h.why}>
                {names.get(h.siteId) ?? h.siteId}: {wordCode('rolloutHeld_', h.why)}
              </li>
            ))}
          </ul>
        </>
      )}

      <h2>{t('updSites')}</h2>
      <div class="scroll">
        <table class="wide" data-testid="rollout-sites">
          <thead>
            <tr>
              <th>{t('site')}</th>
              <th>{t('updWave')}</th>
              <th>{t('updSiteState')}</th>
              <th>{t('updReport')}</th>
              <th>{t('updFailureReason')}</th>
              <th>{t('updProgress')}</th>
              <th>{t('updVersion')}</th>
              <th>{t('updStarted')}</th>
              <th>{t('updFinished')}</th>
            </tr>
          </thead>
          <tbody>
            {d.siteList.map((s) => (
              <tr data-site={s.siteId} data-state={s.state} data-reason={s.reason ?? ''}>
                <td>
                  <a href={`/sites/${encodeURIComponent(s.siteId)}`}>{s.name ?? s.siteId}</a>
                </td>
                <td>{s.wave === null ? '—' : (d.waves[s.wave]?.name ?? s.wave + 1)}</td>
                <td class={`site-state ${s.state}`}>{wordCode('rolloutSite_', s.state)}</td>
                <td>{wordCode('updState_', s.reportState)}</td>
                <td class={s.reason ? 'error' : ''} data-testid="site-reason">
                  {s.reason ? wordCode('updReason_', s.reason) : '—'}
                </td>
                <td>{s.total ? `${formatBytes(s.bytes ?? 0)} / ${formatBytes(s.total)}` : '—'}</td>
                <td>
                  {s.fromVersion ?? t('updVersionUnknown')} → {s.toVersion}
                </td>
                <td>{s.startedAt ? formatTime(s.startedAt) : '—'}</td>
                <td>{s.finishedAt ? formatTime(s.finishedAt) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
