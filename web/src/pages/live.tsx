/**
 * Go live from the browser microphone: PCM from an AudioWorklet (48 kHz,
 * 16-bit, 20 ms frames) over a WebSocket to the server, which encodes Opus
 * for the chosen areas. A level meter shows the voice is heard, and an
 * unmistakable on-air sign shows when the loudspeakers carry it — the
 * user's own voice or any stream on air for their areas.
 *
 * Relay another station: a stream URL, the areas, a priority and an
 * optional fallback item; the server checks the source before going on air
 * and says why it refused. A relay whose source is lost is reconnecting:
 * the page says so, with what the sites hear meanwhile. Every stream on
 * air can be stopped, after a confirmation.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { formatNumber, formatTime, t, type StringKey } from '../i18n.ts';
import { errorText, useApi } from '../hooks.ts';
import { reasonDetail, reasonWords } from '../site-words.ts';
import { api, ApiError } from '../api.ts';
import { onLive } from '../live-updates.ts';
import { hasMicrophone, openMicrophone } from '../microphone.ts';
import type { AreaView, LiveDelayPreview, LiveStreamDetail, LiveStreamList, LiveStreamView, RelayRefusalReason } from '../../../api/index.ts';
import type { Me } from '../../../api/index.ts';
import type { MediaSummary } from '../components/media-picker.tsx';

type StreamView = LiveStreamView;
type StreamDetail = LiveStreamDetail;
type DelayPreview = LiveDelayPreview;
type Priority = LiveStreamView['priority'];
const PRIORITIES: ReadonlyArray<{ value: Priority; key: StringKey }> = [
  { value: 'normal', key: 'normal' },
  { value: 'priority', key: 'priorityHigh' },
  { value: 'emergency', key: 'emergencyPriority' },
];
const priorityText = (p: Priority): string => t(PRIORITIES.find((x) => x.value === p)!.key);

// In the user's number format: "0,25 %" in Vietnamese, "0.25 %" in English.
const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : formatNumber(v, v < 10 ? 2 : 0, 'ms'));
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : formatNumber(v * 100, 2, '%'));

/**
 * How long an ended stream's card keeps refreshing while a site's last report
 * is still to come: a site sends it when the stop reaches it or its
 * end-of-stream message has played, seconds after the server ended the stream.
 */
const LAST_REPORTS_WAIT_MS = 120_000;

/** Refresh `reload` every `everyMs` while `active`: a stream on air changes by the second. */
function usePoll(active: boolean, reload: () => void, everyMs: number): void {
  useEffect(() => {
    if (!active) return;
    const id = window.setInterval(reload, everyMs);
    return () => window.clearInterval(id);
  }, [active, reload, everyMs]);
}

function sourceText(s: StreamView): string {
  const kind = t(`liveSource_${s.source.kind}` as StringKey);
  return s.source.label ? `${kind} · ${s.source.label}` : kind;
}

function stateText(s: StreamView): string {
  if (s.state === 'live') {
    const r = s.relay;
    if (r?.state === 'reconnecting') return `● ${t('onAir')} · ${t('liveReconnectingShort')} (${r.attempts})`;
    return r && r.reconnects > 0 ? `● ${t('onAir')} · ${t('liveReconnected', { n: r.reconnects })}` : `● ${t('onAir')}`;
  }
  let why = s.endReason ? t(`liveEnd_${s.endReason}` as StringKey) : '';
  // A relay that gave up after its reconnect window says so.
  if (s.endReason === 'source_lost' && s.relay?.since) why += `: ${t('liveGaveUp', { s: Math.round(s.relay.reconnectWindowMs / 1000), n: s.relay.attempts })}`;
  return why ? `${t('liveEnded')} (${why})` : t('liveEnded');
}

/** The operator's notice of a relay that lost its source: since when, the tries, what the sites hear meanwhile, when it gives up. */
function ReconnectingNotice(props: { s: StreamView }) {
  const r = props.s.relay!;
  const meanwhile = r.fallback?.playing ? t('liveMeanwhileFallback', { title: r.fallback.title }) : t('liveMeanwhileSilence');
  return (
    <p class="error" role="alert" data-testid="relay-reconnecting" data-stream={props.s.id} data-attempts={r.attempts}>
      ⚠ {t('liveReconnecting', { id: props.s.id, source: sourceText(props.s), since: formatTime(r.since), n: r.attempts, meanwhile, giveUp: formatTime(r.giveUpAt) })}
    </p>
  );
}

/** Why a start was refused, in the user's words: a relay's coded reason, a same-priority stream on air, or the server's message. */
function startError(e: unknown): string {
  if (e instanceof ApiError) {
    const reason = e.details.reason as RelayRefusalReason | undefined;
    if (e.code.startsWith('LOANET_RELAY_') && reason) {
      const detail = typeof e.details.detail === 'string' ? e.details.detail : '';
      return t(`liveRelayRefused_${reason}` as StringKey, { detail });
    }
    if (e.status === 409) return t('liveConflict');
    return errorText(e);
  }
  return String(e);
}

/**
 * One stream's delivery: the skew between sites (the echo a listener between
 * two clusters would hear) and each site's report, refreshed while on air.
 */
function StreamDetailCard(props: { id: number; onClose: () => void }) {
  const d = useApi<StreamDetail>(`/api/live/streams/${props.id}`);
  // When the card first saw the stream ended: the sites' last reports (why it ended there) come after the end.
  const endSeenAt = useRef<number | null>(null);
  if (d.data && d.data.state !== 'live' && endSeenAt.current === null) endSeenAt.current = Date.now();
  const awaitingLastReports = endSeenAt.current !== null && Date.now() - endSeenAt.current < LAST_REPORTS_WAIT_MS && (d.data?.siteReports.some((r) => !r.final) ?? false);
  usePoll(d.data?.state === 'live' || awaitingLastReports, d.reload, 3000);
  if (d.error) return <p class="error">{d.error}</p>;
  const s = d.data;
  if (!s) return <p class="muted">…</p>;
  return (
    <div class="card" data-testid="stream-detail" data-state={s.state}>
      <div class="row">
        <h3>
          #{s.id} {sourceText(s)}
        </h3>
        <button type="button" onClick={props.onClose}>
          {t('close')}
        </button>
      </div>
      <p>
        {stateText(s)} · {t('liveDelay')}:{' '}
        <span data-testid="delay" data-delay={s.delayMs} data-raises={s.adaptive?.raises.length ?? 0}>
          {s.adaptive
            ? t('liveDelayNow', { delay: ms(s.delayMs), initial: ms(s.adaptive.initialMs), ceiling: ms(s.adaptive.ceilingMs), raises: s.adaptive.raises.length })
            : ms(s.delayMs)}
        </span>{' '}
        · {s.codec.bitrate ? formatNumber(s.codec.bitrate / 1000, Number.isInteger(s.codec.bitrate / 1000) ? 0 : 1, 'kbit/s') : ''} {s.codec.fec ? '· FEC' : ''} ·{' '}
        {formatTime(s.startedAt)}
        {s.endedAt ? ` → ${formatTime(s.endedAt)}` : ''}
      </p>
      <p data-testid="skew" data-p99={s.skew.p99Ms ?? ''} data-sites={s.skew.sites}>
        <strong>{t('liveSkew')}</strong>: p50 {ms(s.skew.p50Ms)} · p99 {ms(s.skew.p99Ms)} · {t('liveMax')} {ms(s.skew.maxMs)} (
        {t('liveSkewOver', { marks: s.skew.marks, sites: s.skew.sites })})
      </p>
      <p>
        <strong>{t('liveLossHeard')}</strong>: {pct(s.sites.unconcealedLossRatio)} · {t('liveConcealed')} {s.sites.concealed} · FEC {s.sites.fecRecovered}
      </p>
      {s.adaptive && s.adaptive.behind.length > 0 && (
        <p class="warn-text" data-testid="behind" data-sites={s.adaptive.behind.map((b) => b.siteId).join(',')}>
          <strong>{t('liveBehind')}</strong>: {s.adaptive.behind.map((b) => `${b.siteId} (${t(`liveBehind_${b.reason}` as StringKey, { need: ms(b.neededMs) })})`).join('; ')}
        </p>
      )}
      <div class="scroll">
        <table data-testid="stream-sites">
          <thead>
            <tr>
              <th>{t('site')}</th>
              <th>{t('livePlayed')}</th>
              <th>{t('liveReceived')}</th>
              <th>{t('liveLate')}</th>
              <th>{t('liveLost')}</th>
              <th>{t('liveConcealed')}</th>
              <th>FEC</th>
              <th>{t('liveBuffer')}</th>
              <th>{t('liveClock')}</th>
              <th>{t('liveTransit')}</th>
              <th>{t('liveSiteEnd')}</th>
            </tr>
          </thead>
          <tbody>
            {s.siteReports.map((r) => (
              <tr data-site={r.siteId}>
                <td>
                  <a href={`/sites/${encodeURIComponent(r.siteId)}`}>{r.siteName ?? r.siteId}</a>
                  {r.final ? ' ✓' : ''}
                  {r.areaName && <div class="muted">{r.areaName}</div>}
                </td>
                <td>{r.played}</td>
                <td>{r.received}</td>
                <td>{r.late}</td>
                <td>{r.lost}</td>
                <td>{r.concealed}</td>
                <td>{r.fecRecovered}</td>
                <td>{ms(r.bufferLevelMs)}</td>
                <td>{r.clockUncertaintyMs === null ? '–' : `± ${ms(r.clockUncertaintyMs)}`}</td>
                <td class={r.link?.behind ? 'warn-text' : ''} title={r.link ? `p50 ${ms(r.link.transitP50Ms)} · ${r.link.samples}` : ''}>
                  {r.link ? ms(r.link.transitP99Ms) : '–'}
                </td>
                <td data-end={r.end?.reason ?? ''} class={r.end && !['ended', 'stopped'].includes(r.end.reason) ? 'warn-text' : ''} title={r.end?.detail ?? ''}>
                  {r.end ? t(`liveSiteEnd_${r.end.reason}` as StringKey) : r.final ? '' : t('livePlaying')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {s.siteReports.length === 0 && <p class="muted">{t('liveNoReports')}</p>}
      <h4 data-testid="silent-total" data-total={s.silent.total}>
        {t('liveSilent', { n: s.silent.total, all: s.targetedSites })}
      </h4>
      {s.silent.sites.length > 0 && (
        <table data-testid="silent-sites">
          <tbody>
            {s.silent.sites.map((x) => (
              <tr data-site={x.siteId}>
                <td>
                  <a href={`/sites/${encodeURIComponent(x.siteId)}`}>{x.name}</a>
                  {x.areaName && <div class="muted">{x.areaName}</div>}
                </td>
                <td class="warn-text" title={reasonDetail(x.reasons)}>
                  {x.reasons.map(reasonWords).join('; ')}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** What a stream to the chosen area starts with, and the sites too slow for the ceiling: seen before going live. */
function DelayPreviewLine(props: { p: DelayPreview }) {
  const p = props.p;
  const slowest = p.sites[0];
  return (
    <div data-testid="delay-preview" data-delay={p.delayMs} data-ceiling={p.ceilingMs} data-beyond={p.beyondCeiling}>
      <p>{p.adaptive ? t('liveDelayPreview', { delay: ms(p.delayMs), ceiling: ms(p.ceilingMs) }) : t('liveDelayFixed', { delay: ms(p.delayMs) })}</p>
      {slowest && <p class="muted">{t('liveDelayMeasured', { n: p.measured, site: slowest.siteId, need: ms(slowest.neededMs) })}</p>}
      {p.beyondCeiling > 0 && (
        <p class="warn-text" role="alert">
          {t('liveBeyondCeiling', { n: p.beyondCeiling })}{' '}
          {p.sites
            .filter((x) => !x.withinCeiling)
            .slice(0, 10)
            .map((x) => `${x.siteId} (${ms(x.neededMs)})`)
            .join(', ')}
        </p>
      )}
    </div>
  );
}

/** Relay another station: URL, areas, priority, fallback; the server checks the source before it goes on air. */
function RelayForm(props: { areas: Array<{ key: string; name: string }>; defaultArea: string; onStarted: (id: number) => void }) {
  const lib = useApi<{ items: MediaSummary[] }>('/api/media?limit=200');
  const [url, setUrl] = useState('');
  const [chosen, setChosen] = useState<string[]>(props.defaultArea ? [props.defaultArea] : []);
  const [priority, setPriority] = useState<Priority>('normal');
  const [fallback, setFallback] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  useEffect(() => {
    if (chosen.length === 0 && props.defaultArea) setChosen([props.defaultArea]);
  }, [props.defaultArea]);

  const submit = async (e: Event) => {
    e.preventDefault();
    setError('');
    setDone('');
    if (chosen.length === 0) return setError(t('liveNeedArea'));
    setBusy(true);
    try {
      const v = await api<LiveStreamView>('POST', '/api/live/streams', {
        source: { kind: 'relay', url: url.trim(), ...(fallback ? { fallbackMediaId: fallback } : {}) },
        areas: chosen,
        priority,
      });
      setDone(t('liveRelayStarted', { id: v.id }));
      props.onStarted(v.id);
    } catch (err) {
      setError(startError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="card" data-testid="relay-form" onSubmit={submit}>
      <h2>{t('liveRelayTitle')}</h2>
      <p class="muted">{t('liveRelayHelp')}</p>
      <label>
        {t('liveRelayUrl')}
        <input name="relayUrl" type="url" required placeholder="https://" value={url} onInput={(e) => setUrl(e.currentTarget.value)} style="width:100%" />
      </label>
      <fieldset style="border:0;padding:0;margin:.5rem 0">
        <legend style="font-size:.9em">{t('liveRelayAreas')}</legend>
        <div style="max-height:10em;overflow-y:auto" data-testid="relay-areas">
          {props.areas.map((a) => (
            <label style="flex-direction:row;align-items:center;gap:.4rem">
              <input
                type="checkbox"
                name="relayArea"
                value={a.key}
                checked={chosen.includes(a.key)}
                onChange={(e) => setChosen(e.currentTarget.checked ? [...chosen, a.key] : chosen.filter((k) => k !== a.key))}
              />
              {a.name}
            </label>
          ))}
        </div>
      </fieldset>
      <div class="row">
        <label>
          {t('livePriorityOf')}
          <select name="relayPriority" value={priority} onChange={(e) => setPriority(e.currentTarget.value as Priority)}>
            {PRIORITIES.map((p) => (
              <option value={p.value}>{t(p.key)}</option>
            ))}
          </select>
        </label>
        <label style="min-width:0;flex:1">
          {t('liveFallback')}
          <select name="relayFallback" value={fallback} onChange={(e) => setFallback(e.currentTarget.value)} style="max-width:100%">
            <option value="">{t('liveFallbackNone')}</option>
            {(lib.data?.items ?? []).map((m) => (
              <option value={m.id}>{m.title}</option>
            ))}
          </select>
        </label>
      </div>
      <button type="submit" disabled={busy || !url.trim()} data-testid="relay-start">
        {busy ? t('liveRelayChecking') : `📻 ${t('liveRelayStart')}`}
      </button>
      {error && (
        <p class="error" role="alert" data-testid="relay-error">
          {error}
        </p>
      )}
      {done && (
        <p class="ok" data-testid="relay-started">
          {done}
        </p>
      )}
    </form>
  );
}

export function LivePage(props: { me: Me }) {
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const streams = useApi<LiveStreamList>('/api/live/streams?limit=20');
  const airing = useApi<LiveStreamList>('/api/live/streams?state=live&limit=100');
  const [area, setArea] = useState(props.me.area ?? '');
  const [priority, setPriority] = useState<Priority>('normal');
  const [state, setState] = useState<'idle' | 'connecting' | 'on-air'>('idle');
  const [level, setLevel] = useState(0);
  const [error, setError] = useState('');
  const [notice, setNotice] = useState('');
  const [selected, setSelected] = useState<number | null>(null);
  const session = useRef<{ ws: WebSocket; ctx: AudioContext; mic: MediaStream } | null>(null);
  // Before going live: the delay the area's sites' measured links need, and the ceiling.
  const preview = useApi<DelayPreview>(area && props.me.permissions.includes('live.broadcast') ? `/api/live/delay?areas=${encodeURIComponent(area)}` : null);

  const stop = () => {
    const s = session.current;
    session.current = null;
    if (s) {
      if (s.ws.readyState === WebSocket.OPEN) s.ws.send(JSON.stringify({ type: 'stop' }));
      s.ws.close();
      s.mic.getTracks().forEach((tr) => tr.stop());
      void s.ctx.close();
    }
    setState('idle');
    setLevel(0);
    reloadAll();
  };
  useEffect(() => () => stop(), []);
  // Every stream on air for the user's areas, however many have played since it began; then the latest past ones.
  const onAir = (airing.data?.streams ?? []).filter((x) => x.state === 'live');
  const list = [...onAir, ...(streams.data?.streams ?? []).filter((x) => !onAir.some((o) => o.id === x.id)).slice(0, 20)];
  const reloadAll = useCallback(() => {
    airing.reload();
    streams.reload();
  }, [airing.reload, streams.reload]);
  // A stream started, ended or slowed anywhere in the user's area (another console, an automatic end) shows at once;
  // while one is on air its figures change by the second, and a relay reconnecting faster still: polled.
  useEffect(() => onLive('live', reloadAll), [reloadAll]);
  usePoll(onAir.length > 0, reloadAll, onAir.some((x) => x.relay?.state === 'reconnecting') ? 2000 : 5000);

  const stopStream = async (s: StreamView) => {
    if (!window.confirm(t('liveConfirmStop', { id: s.id, source: sourceText(s) }))) return;
    setError('');
    try {
      await api('POST', `/api/live/streams/${s.id}/stop`);
      setNotice(t('liveStopped', { id: s.id }));
    } catch (e) {
      setError(e instanceof Error ? errorText(e) : String(e));
    }
    reloadAll();
  };

  const start = async () => {
    setError('');
    if (!hasMicrophone()) {
      setError(t('liveNeedsMic'));
      return;
    }
    setState('connecting');
    try {
      const mic = await openMicrophone();
      const ctx = new AudioContext({ sampleRate: 48_000 });
      await ctx.audioWorklet.addModule('/pcm-worklet.js');
      const node = new AudioWorkletNode(ctx, 'pcm-frames');
      ctx.createMediaStreamSource(mic).connect(node);
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${proto}://${location.host}/api/live/voice?areas=${encodeURIComponent(area)}&format=pcm&priority=${priority}`);
      ws.binaryType = 'arraybuffer';
      session.current = { ws, ctx, mic };
      ws.onmessage = (e) => {
        if (typeof e.data !== 'string') return;
        const m = JSON.parse(e.data) as { type: string; message?: string; error?: string };
        if (m.type === 'started') {
          setState('on-air');
          reloadAll();
        } else if (m.type === 'error')
          setError(m.error === 'LOANET_LIVE_BUSY' ? t('liveConflict') : new ApiError(0, m.error ?? 'LOANET_INTERNAL', m.message ?? 'error', m).message);
      };
      ws.onclose = (e) => {
        // 4409: a stream of the same priority is on air (the error message above already said so in the user's words).
        if (e.code !== 1000 && e.code !== 4409 && e.reason) setError(e.reason);
        if (session.current?.ws === ws) stop();
      };
      node.port.onmessage = (e: MessageEvent<{ pcm: ArrayBuffer; peak: number }>) => {
        setLevel(e.data.peak);
        if (ws.readyState === WebSocket.OPEN) ws.send(e.data.pcm);
      };
    } catch (e) {
      setError(e instanceof Error ? `${t('liveNeedsMic')} (${e.message})` : String(e));
      stop();
    }
  };

  const canLive = props.me.permissions.includes('live.broadcast');
  const areaOptions = (communes.data?.areas ?? []).map((a) => ({ key: a.key, name: a.name }));
  // A user of a province or district may also play to the whole of their area.
  if (props.me.area && !areaOptions.some((a) => a.key === props.me.area)) areaOptions.unshift({ key: props.me.area, name: props.me.areaName ?? props.me.area });
  const first = onAir[0];
  return (
    <section>
      <h1>{t('live')}</h1>
      {onAir
        .filter((x) => x.relay?.state === 'reconnecting')
        .map((x) => (
          <ReconnectingNotice s={x} />
        ))}
      <div class="card">
        <div class="row">
          {/* The user's own voice, or else any stream on air for their areas: never "off air" while the loudspeakers carry one. */}
          <span class={state === 'on-air' || first ? 'on-air' : 'muted'} data-testid="on-air" data-state={state} data-streams={onAir.length}>
            {state === 'on-air' ? `● ${t('onAir')}` : first ? `● ${t('onAir')} · ${onAir.length > 1 ? t('liveOnAirCount', { n: onAir.length }) : sourceText(first)}` : t('offAir')}
          </span>
        </div>
        {canLive && (
          <div class="row">
            <label>
              {t('chooseArea')}
              <select name="area" value={area} disabled={state !== 'idle'} onChange={(e) => setArea(e.currentTarget.value)} style="max-width:100%">
                <option value="" />
                {areaOptions.map((a) => (
                  <option value={a.key}>{a.name}</option>
                ))}
              </select>
            </label>
            <label>
              {t('livePriorityOf')}
              <select name="priority" value={priority} disabled={state !== 'idle'} onChange={(e) => setPriority(e.currentTarget.value as Priority)}>
                {PRIORITIES.map((p) => (
                  <option value={p.value}>{t(p.key)}</option>
                ))}
              </select>
            </label>
            {state === 'idle' ? (
              <button type="button" class="huge" disabled={!area} onClick={start} data-testid="go-live">
                🎙 {t('goLive')}
              </button>
            ) : (
              <button type="button" class="danger huge" onClick={stop} data-testid="stop-live">
                ■ {t('stopLive')}
              </button>
            )}
          </div>
        )}
        {area && preview.data && <DelayPreviewLine p={preview.data} />}
        {/* Not a form control: the level is shown, not set. */}
        <div style="display:flex;flex-direction:column;gap:.2rem;font-size:.9em">
          <span id="mic-level">{t('micLevel')}</span>
          <div class="meter" data-testid="level" role="img" aria-labelledby="mic-level" data-level={level.toFixed(2)}>
            {/* dBFS from -60 to 0 across the bar: a voice is visible long before it clips. */}
            <span style={`width:${Math.round(Math.max(0, Math.min(1, (20 * Math.log10(Math.max(level, 1e-6)) + 60) / 60)) * 100)}%`} />
          </div>
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {notice && <p class="ok">{notice}</p>}
      </div>
      {canLive && (
        <>
          <div style="height:.75rem" />
          <RelayForm areas={areaOptions} defaultArea={props.me.area && areaOptions.some((a) => a.key === props.me.area) ? props.me.area : ''} onStarted={reloadAll} />
        </>
      )}
      <h2>{t('liveStreams')}</h2>
      <div class="scroll">
        <table data-testid="streams" class="clickable">
          <thead>
            <tr>
              <th>#</th>
              <th>{t('liveSource')}</th>
              <th>{t('status')}</th>
              <th>{t('livePriorityOf')}</th>
              {canLive && <th>{t('liveActions')}</th>}
              <th>{t('liveStarted')}</th>
              <th>{t('liveBy')}</th>
              <th>{t('liveSites')}</th>
              <th>{t('liveLossHeard')}</th>
              <th>{t('liveSkew')} p99</th>
            </tr>
          </thead>
          <tbody>
            {list.map((s) => (
              <tr data-stream={s.id} data-state={s.state} data-relay={s.relay?.state ?? ''} class={selected === s.id ? 'selected' : ''} onClick={() => setSelected(s.id)}>
                <td>#{s.id}</td>
                <td>{sourceText(s)}</td>
                <td class={s.state === 'live' ? (s.relay?.state === 'reconnecting' ? 'live-cell error' : 'live-cell') : ''}>{stateText(s)}</td>
                <td data-priority={s.priority}>{priorityText(s.priority)}</td>
                {canLive && (
                  <td>
                    {s.state === 'live' && (
                      <button
                        type="button"
                        class="danger"
                        data-testid="stop-stream"
                        onClick={(e) => {
                          e.stopPropagation();
                          void stopStream(s);
                        }}
                      >
                        ■ {t('liveStopOne')}
                      </button>
                    )}
                  </td>
                )}
                <td>{formatTime(s.startedAt)}</td>
                <td class="muted">{s.startedBy}</td>
                <td>{s.sites.sites}</td>
                <td>{pct(s.sites.unconcealedLossRatio)}</td>
                <td>{ms(s.skew.p99Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {streams.error && <p class="error">{streams.error}</p>}
      {selected !== null && <StreamDetailCard key={selected} id={selected} onClose={() => setSelected(null)} />}
    </section>
  );
}
