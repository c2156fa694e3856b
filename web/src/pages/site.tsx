/**
 * One site: condition and reasons, last heartbeat, signal, power, amplifier,
 * speaker lines, devices, history, recent commands, the controls (volume,
 * amplifier, test tone, reboot, acoustic delay) whose results arrive by live
 * update, and its board's enrolment code (components/enrolment.tsx).
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, qs } from '../api.ts';
import { formatNumber, formatTime, t, type StringKey } from '../i18n.ts';
import { asRunWhyWords, codeWords, commandErrorWords, commandWords, detailLines, deviceKind, eventKind, eventWords } from '../site-words.ts';
import { useApi, useThrottled } from '../hooks.ts';
import { onLive } from '../live-updates.ts';
import type { AreaView, AsRunLog, CommandRecord, Me, SiteCondition, SiteDetail, SiteEvent } from '../../../api/index.ts';
import { ConditionPill, Reasons } from '../components/condition.tsx';
import { EnrolmentPanel } from '../components/enrolment.tsx';
import { lazyPage } from '../lazy.tsx';

/** The site's alarm history: loaded with the alarms page's own file, when a site is opened. */
const SiteAlarms = lazyPage(() => import('./alarms.tsx').then((m) => m.SiteAlarms));
const SiteWorkOrders = lazyPage(() => import('./work-orders.tsx').then((m) => m.SiteWorkOrders));

const STATUS_KEY: Record<CommandRecord['status'], StringKey> = { queued: 'queued', sent: 'sent', succeeded: 'succeeded', failed: 'failed', expired: 'expired' };

/** A command's result in words where its fields are known (tone, sound check, volume), else its fields as sent. */
function resultText(r: Record<string, unknown>): string {
  const parts: string[] = [];
  if (typeof r.hz === 'number') parts.push(formatNumber(r.hz, 0, 'Hz'));
  if (typeof r.durationMs === 'number') parts.push(formatNumber(r.durationMs / 1000, 1, 's'));
  if (typeof r.level === 'number') parts.push(`${t('volume')} ${r.level}`);
  if (typeof r.volume === 'number') parts.push(`${t('volume')} ${r.volume}`);
  if (typeof r.passed === 'boolean') parts.push(r.passed ? '✓' : '✗');
  if (typeof r.acousticDelayM === 'number')
    parts.push(
      `${formatNumber(r.acousticDelayM, Number.isInteger(r.acousticDelayM) ? 0 : 1, 'm')}${typeof r.delayMs === 'number' ? ` = ${formatNumber(r.delayMs, 1, 'ms')}` : ''}`,
    );
  if (typeof r.levelDb === 'number') parts.push(`${formatNumber(r.levelDb, 1, 'dB')}${typeof r.thresholdDb === 'number' ? ` (≥ ${formatNumber(r.thresholdDb, 1, 'dB')})` : ''}`);
  return parts.length ? parts.join(' · ') : detailLines(r).join(' · ');
}

/** What a history event says: reasons of a condition change, else its details, in words. */
function eventText(e: SiteEvent): string {
  return eventWords(e.type, e.detail as Record<string, unknown> | null);
}

function CommandOutcome(props: { c: CommandRecord }) {
  const c = props.c;
  const cls = c.status === 'succeeded' ? 'ok' : c.status === 'failed' || c.status === 'expired' ? 'error' : 'muted';
  return (
    <span class={cls} data-status={c.status}>
      {t(STATUS_KEY[c.status])}
      {c.error ? ` — ${commandErrorWords(c.error)}` : ''}
      {c.result && Object.keys(c.result).length > 0 ? ` — ${resultText(c.result)}` : ''}
    </span>
  );
}

/** How often the site page asks what the site plays (the heartbeat tells the server at once; the page polls). */
const PLAYING_REFRESH_MS = 5_000;

/** What the site plays now and since when (Asia/Ho_Chi_Minh), from GET /api/sites/:id's `playing`. */
function playingText(s: SiteDetail): string {
  if (!s.status?.connected) return s.status ? t('playingOffline') : '—';
  const p = s.playing;
  if (!p) return t('playingNothing');
  const what =
    p.kind === 'bulletin'
      ? p.title
        ? t('playingBulletin', { title: p.title })
        : t('playingBulletinUntitled')
      : p.kind === 'alert'
        ? p.title
          ? t('playingAlert', { title: p.title })
          : t('playingAlertUntitled')
        : p.title
          ? t('playingLive', { title: p.title })
          : t('playingLiveUntitled');
  return `${what} · ${t('playingSince', { time: formatTime(p.since) })}`;
}

export function SitePage(props: { me: Me; id: string }) {
  const id = encodeURIComponent(props.id);
  const site = useApi<SiteDetail>(`/api/sites/${id}`);
  const events = useApi<{ events: SiteEvent[] }>(`/api/sites/${id}/events${qs({ limit: 30 })}`);
  const commands = useApi<{ commands: CommandRecord[] }>(`/api/sites/${id}/commands`);
  const since = useMemo(() => Date.now() - 7 * 86_400_000, [props.id]);
  const asRun = useApi<AsRunLog>(site.data ? `/api/as-run${qs({ area: site.data.area, site: props.id, from: since, to: since + 8 * 86_400_000 })}` : null);
  // The site's area by its name (the site answers only its key).
  const area = useApi<AreaView>(site.data ? `/api/areas/${encodeURIComponent(site.data.area)}` : null);
  const [last, setLast] = useState<CommandRecord | null>(null);
  // A fast site can answer before our POST returns: results seen on the stream wait here for their command.
  const seen = useRef(new Map<string, CommandRecord>());
  const [error, setError] = useState('');
  const [volume, setVolume] = useState(60);
  // The site's acoustic delay is what its latest successful set_acoustic_delay answered (telemetry does not carry it).
  const [delayM, setDelayM] = useState('0');
  const currentDelayM = (commands.data?.commands ?? []).find((c) => c.type === 'set_acoustic_delay' && c.status === 'succeeded')?.result?.acousticDelayM;
  const canCommand = props.me.permissions.includes('site.command');
  const canEnrol = props.me.permissions.includes('site.enrol');

  const refresh = useThrottled(() => {
    site.reload();
    events.reload();
  }, 1000);
  useEffect(() => onLive('condition', (e) => e.siteId === props.id && refresh()), [props.id, refresh]);
  // What plays changes without a condition change (a bulletin starts): the page asks again now and then while open.
  useEffect(() => {
    const timer = window.setInterval(() => site.reload(), PLAYING_REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [site.reload]);
  useEffect(
    () =>
      onLive('command', (c) => {
        if (c.siteId !== props.id) return;
        // Only the id and site when the server no longer has the command: the lists below reload anyway.
        if ('status' in c) {
          seen.current.set(c.id, c);
          setLast((prev) => (prev && prev.id === c.id ? c : prev));
        }
        commands.reload();
        site.reload();
      }),
    [props.id],
  );
  useEffect(() => {
    const v = site.data?.status?.telemetry?.amplifier?.volume;
    if (v !== undefined) setVolume(v);
  }, [site.data?.status?.telemetry?.amplifier?.volume]);
  useEffect(() => {
    if (typeof currentDelayM === 'number') setDelayM(String(currentDelayM));
  }, [currentDelayM]);

  const send = async (type: string, params: Record<string, unknown> = {}) => {
    setError('');
    try {
      const c = await api<CommandRecord>('POST', `/api/sites/${id}/commands`, { type, params, waitMs: 0 });
      setLast(seen.current.get(c.id) ?? c);
      commands.reload();
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
  };

  const s = site.data;
  if (site.error && !s) return <p class="error">{site.error}</p>;
  if (!s) return <p class="muted">{t('loading')}</p>;
  const st = s.status;
  const tel = st?.telemetry ?? null;

  return (
    <section>
      <h1>
        {s.name} <ConditionPill condition={st?.condition} />
      </h1>
      <p class="muted">
        {s.id} · {t(s.kind)} · <span data-testid="site-area">{area.data?.name ?? (area.error ? s.area : '')}</span>
      </p>
      {st && st.reasons.length > 0 && (
        <p data-testid="site-reasons">
          <Reasons reasons={st.reasons} />
        </p>
      )}
      <div class="grid">
        <div class="card">
          <div class="muted">{t('lastHeartbeat')}</div>
          <div data-testid="last-heartbeat">{formatTime(st?.lastSeenAt)}</div>
        </div>
        <div class="card">
          <div class="muted">{t('signal')}</div>
          <div>{tel ? `${codeWords('link_', tel.link.type)} ${tel.link.signalDbm !== null ? formatNumber(tel.link.signalDbm, 0, 'dBm') : '—'}` : '—'}</div>
        </div>
        <div class="card">
          <div class="muted">{t('power')}</div>
          <div>
            {tel
              ? `${tel.power.source === 'mains' ? t('mains') : tel.power.source === 'battery' ? t('battery') : tel.power.source === 'solar' ? t('solar') : '—'}${tel.power.batteryPct !== null ? ` · ${t('battery')} ${formatNumber(tel.power.batteryPct, 0, '%')}` : ''}`
              : '—'}
          </div>
        </div>
        <div class="card">
          <div class="muted">{t('amplifier')}</div>
          <div data-testid="amplifier">
            {tel?.amplifier
              ? `${tel.amplifier.on ? t('on') : t('off')} · ${t('volume')} ${tel.amplifier.volume}${tel.amplifier.fault !== 'none' ? ` · ${codeWords('ampFault_', tel.amplifier.fault)}` : ''}`
              : '—'}
          </div>
        </div>
        <div class="card">
          <div class="muted">{t('playingNow')}</div>
          <div data-testid="playing-now">{playingText(s)}</div>
        </div>
        <div class="card">
          <div class="muted">{t('soundVerified')}</div>
          <div>{formatTime(st?.lastSoundVerifiedAt)}</div>
        </div>
      </div>

      <SiteAlarms me={props.me} siteId={props.id} />
      <SiteWorkOrders me={props.me} siteId={props.id} />

      {canCommand && (
        <>
          <h2>{t('controls')}</h2>
          <div class="card">
            <div class="row">
              <label>
                {t('volume')} ({volume})
                <input type="range" min={0} max={100} value={volume} onInput={(e) => setVolume(Number(e.currentTarget.value))} aria-label={t('volume')} />
              </label>
              <button type="button" onClick={() => send('set_volume', { level: volume })} data-command="set_volume">
                {t('setVolume')}
              </button>
              <button type="button" onClick={() => send('amp_power', { on: true })} data-command="amp_on">
                {t('ampOn')}
              </button>
              <button type="button" class="secondary" onClick={() => send('amp_power', { on: false })} data-command="amp_off">
                {t('ampOff')}
              </button>
              <button type="button" onClick={() => send('test_tone', {})} data-command="test_tone">
                {t('testTone')}
              </button>
              <button type="button" class="danger" onClick={() => window.confirm(t('confirmReboot')) && send('reboot', {})} data-command="reboot">
                {t('reboot')}
              </button>
            </div>
            <div class="row">
              <label>
                {t('acousticDelay')}
                <input type="number" min={-100} max={1000} step={0.1} value={delayM} onInput={(e) => setDelayM(e.currentTarget.value)} data-testid="acoustic-delay" />
              </label>
              <button type="button" onClick={() => send('set_acoustic_delay', { metres: Number(delayM) })} data-command="set_acoustic_delay">
                {t('setAcousticDelay')}
              </button>
            </div>
            <p class="muted">{t('acousticDelayHint')}</p>
            {error && (
              <p class="error" role="alert">
                {error}
              </p>
            )}
            {last && (
              <p data-testid="command-result" data-command-id={last.id}>
                {commandWords(last.type)}: <CommandOutcome c={last} />
              </p>
            )}
          </div>
        </>
      )}

      {canEnrol && s.retiredAt === null && <EnrolmentPanel siteId={s.id} hasConnected={st?.firstSeenAt != null} />}

      <div class="two">
        <div>
          <h2>{t('lines')}</h2>
          <table>
            <tbody>
              {(tel?.lines ?? []).map((l) => (
                <tr>
                  <td>#{l.id}</td>
                  <td class={l.status === 'ok' ? 'ok' : 'error'} data-line-status={l.status}>
                    {codeWords('line_', l.status)}
                  </td>
                  <td class="muted">{l.impedanceOhm !== null ? formatNumber(l.impedanceOhm, 1, 'Ω') : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>{t('devices')}</h2>
          <table>
            <tbody>
              {(tel?.devices ?? s.expectedDevices.map((d) => ({ ...d, reachable: false, firmware: undefined, error: undefined }))).map((d) => (
                <tr>
                  {/* A device named after its kind (controller, amplifier) is named once, in words. */}
                  <td>{d.id === d.kind ? deviceKind(d.kind) : d.id}</td>
                  <td>{d.id === d.kind ? '' : deviceKind(d.kind)}</td>
                  {/* The agent's own words for why (a socket error) stay in the title: what a technician may search for. */}
                  <td class={d.reachable ? 'ok' : 'error'} title={d.error ?? ''}>
                    {d.reachable ? t('deviceOk') : t('deviceUnreachable')}
                  </td>
                  <td class="muted">{d.firmware ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h2>{t('commands')}</h2>
          <table data-testid="commands">
            <tbody>
              {(commands.data?.commands ?? []).slice(0, 10).map((c) => (
                <tr>
                  <td class="muted">{formatTime(c.createdAt)}</td>
                  <td>{commandWords(c.type)}</td>
                  <td>
                    <CommandOutcome c={c} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </div>

      <h2>{t('asRun')}</h2>
      <div class="scroll">
        <table data-testid="site-as-run">
          <tbody>
            {(asRun.data?.lines ?? [])
              .slice(-20)
              .reverse()
              .map((l) => {
                return (
                  <tr>
                    <td class="muted">{formatTime(l.startAt)}</td>
                    <td>{l.title}</td>
                    <td data-status={l.status} class={['late', 'early', 'unverified', 'unknown'].includes(l.status) ? 'warn-text' : ''}>
                      {codeWords('asRun_', l.status)}
                    </td>
                    <td class="muted" title={l.detail ? `${t('technicalDetail')} ${l.detail}` : undefined}>
                      {asRunWhyWords(l.why, l.siteNow)}
                    </td>
                  </tr>
                );
              })}
          </tbody>
        </table>
      </div>

      <h2>{t('history')}</h2>
      <div class="scroll">
        <table data-testid="events">
          <tbody>
            {(events.data?.events ?? []).map((e) => (
              <tr>
                <td class="muted">{formatTime(e.at)}</td>
                <td data-event-type={e.type}>{eventKind(e.type)}</td>
                <td>{e.condition && <ConditionPill condition={e.condition as SiteCondition} />}</td>
                <td class="muted">{eventText(e)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
