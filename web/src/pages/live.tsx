/**
 * Go live from the browser microphone: PCM from an AudioWorklet (48 kHz,
 * 16-bit, 20 ms frames) over a WebSocket to the server, which encodes Opus
 * for the chosen areas. A level meter shows the voice is heard, and an
 * unmistakable on-air sign shows when the loudspeakers carry it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { formatTime, lang, t, type StringKey } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { AreaView, Me } from '../../../api/index.ts';

/** GET /api/live/streams[/{id}] (server/live/service.ts LiveStreamView / LiveStreamDetail). */
interface StreamView {
  id: number;
  state: 'live' | 'ended';
  source: { kind: 'browser' | 'relay' | 'media'; label: string | null };
  areas: string[];
  priority: 'normal' | 'priority' | 'emergency';
  delayMs: number;
  codec: { bitrate?: number; fec?: boolean; packetsPerMessage: number };
  startedAt: number;
  startedBy: string;
  endedAt: number | null;
  endReason: string | null;
  endedBy: string | null;
  sites: { sites: number; received: number; lost: number; concealed: number; fecRecovered: number; played: number; unconcealedLossRatio: number | null };
  skew: { marks: number; sites: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null };
  /** The adaptive delay (null for a stream read back from the record). */
  adaptive: { initialMs: number; ceilingMs: number; raises: Array<{ at: number; fromMs: number; toMs: number }>; behind: Array<{ siteId: string; neededMs: number | null; reason: 'beyond_ceiling' | 'late_packets' }> } | null;
}
/** GET /api/live/delay: what a stream to an area would start with (server/live/service.ts LiveDelayPreview). */
interface DelayPreview {
  delayMs: number;
  ceilingMs: number;
  adaptive: boolean;
  sites: Array<{ siteId: string; transitP99Ms: number; neededMs: number; withinCeiling: boolean }>;
  measured: number;
  beyondCeiling: number;
}
interface SiteReport {
  siteId: string;
  siteName?: string | null;
  areaName?: string | null;
  received: number;
  late: number;
  lost: number;
  concealed: number;
  fecRecovered: number;
  played: number;
  bufferLevelMs: number;
  clockUncertaintyMs: number | null;
  final: boolean;
  end: { reason: string; detail: string | null } | null;
  receivedAt: number;
  link?: { transitP50Ms: number; transitP99Ms: number; samples: number; behind: boolean; neededMs: number };
}
interface StreamDetail extends StreamView {
  siteReports: SiteReport[];
  targetedSites: number;
  silent: { total: number; sites: Array<{ siteId: string; name: string; areaName: string | null; conditionNow: string | null; reasons: Array<{ code: string; message: string; messageVi: string }> }> };
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${v < 10 ? v.toFixed(2) : v.toFixed(0)} ms`);
const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(2)} %`);

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
  if (s.state === 'live') return `● ${t('onAir')}`;
  const why = s.endReason ? t(`liveEnd_${s.endReason}` as StringKey) : '';
  return why ? `${t('liveEnded')} (${why})` : t('liveEnded');
}

/**
 * One stream's delivery: the skew between sites (the echo a listener between
 * two clusters would hear) and each site's report, refreshed while on air.
 */
function StreamDetailCard(props: { id: number; onClose: () => void }) {
  const d = useApi<StreamDetail>(`/api/live/streams/${props.id}`);
  usePoll(d.data?.state === 'live', d.reload, 3000);
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
          {s.adaptive ? t('liveDelayNow', { delay: ms(s.delayMs), initial: ms(s.adaptive.initialMs), ceiling: ms(s.adaptive.ceilingMs), raises: s.adaptive.raises.length }) : ms(s.delayMs)}
        </span>{' '}
        · {s.codec.bitrate ? `${s.codec.bitrate / 1000} kbit/s` : ''} {s.codec.fec ? '· FEC' : ''} · {formatTime(s.startedAt)}
        {s.endedAt ? ` → ${formatTime(s.endedAt)}` : ''}
      </p>
      <p data-testid="skew" data-p99={s.skew.p99Ms ?? ''} data-sites={s.skew.sites}>
        <strong>{t('liveSkew')}</strong>: p50 {ms(s.skew.p50Ms)} · p99 {ms(s.skew.p99Ms)} · max {ms(s.skew.maxMs)} ({t('liveSkewOver', { marks: s.skew.marks, sites: s.skew.sites })})
      </p>
      <p>
        <strong>{t('liveLossHeard')}</strong>: {pct(s.sites.unconcealedLossRatio)} · {t('liveConcealed')} {s.sites.concealed} · FEC {s.sites.fecRecovered}
      </p>
      {s.adaptive && s.adaptive.behind.length > 0 && (
        <p class="warn-text" data-testid="behind" data-sites={s.adaptive.behind.map((b) => b.siteId).join(',')}>
          <strong>{t('liveBehind')}</strong>:{' '}
          {s.adaptive.behind.map((b) => `${b.siteId} (${t(`liveBehind_${b.reason}` as StringKey, { need: ms(b.neededMs) })})`).join('; ')}
        </p>
      )}
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
                <td class="warn-text">{x.reasons.map((r) => (lang() === 'vi' ? r.messageVi : r.message)).join('; ')}</td>
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

export function LivePage(props: { me: Me }) {
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const streams = useApi<{ streams: StreamView[] }>('/api/live/streams');
  const [area, setArea] = useState(props.me.area ?? '');
  const [state, setState] = useState<'idle' | 'connecting' | 'on-air'>('idle');
  const [level, setLevel] = useState(0);
  const [error, setError] = useState('');
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
    streams.reload();
  };
  useEffect(() => () => stop(), []);
  usePoll((streams.data?.streams ?? []).some((x) => x.state === 'live'), streams.reload, 5000);

  const start = async () => {
    setError('');
    if (!navigator.mediaDevices?.getUserMedia) {
      setError(t('liveNeedsMic'));
      return;
    }
    setState('connecting');
    try {
      const mic = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: false, noiseSuppression: true, autoGainControl: true } });
      const ctx = new AudioContext({ sampleRate: 48_000 });
      await ctx.audioWorklet.addModule('/pcm-worklet.js');
      const node = new AudioWorkletNode(ctx, 'pcm-frames');
      ctx.createMediaStreamSource(mic).connect(node);
      const proto = location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${proto}://${location.host}/api/live/voice?areas=${encodeURIComponent(area)}&format=pcm`);
      ws.binaryType = 'arraybuffer';
      session.current = { ws, ctx, mic };
      ws.onmessage = (e) => {
        if (typeof e.data !== 'string') return;
        const m = JSON.parse(e.data) as { type: string; message?: string };
        if (m.type === 'started') {
          setState('on-air');
          streams.reload();
        } else if (m.type === 'error') setError(m.message ?? 'error');
      };
      ws.onclose = (e) => {
        if (e.code !== 1000 && e.reason) setError(e.reason);
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
  return (
    <section>
      <h1>{t('live')}</h1>
      <div class="card">
        <div class="row">
          <span class={state === 'on-air' ? 'on-air' : 'muted'} data-testid="on-air" data-state={state}>
            {state === 'on-air' ? `● ${t('onAir')}` : t('offAir')}
          </span>
        </div>
        {canLive && (
          <div class="row">
            <label>
              {t('chooseArea')}
              <select name="area" value={area} disabled={state !== 'idle'} onChange={(e) => setArea(e.currentTarget.value)}>
                <option value="" />
                {(communes.data?.areas ?? []).map((a) => (
                  <option value={a.key}>{a.name}</option>
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
        <label>
          {t('micLevel')}
          <div class="meter" data-testid="level" data-level={level.toFixed(2)}>
            {/* dBFS from -60 to 0 across the bar: a voice is visible long before it clips. */}
            <span style={`width:${Math.round(Math.max(0, Math.min(1, (20 * Math.log10(Math.max(level, 1e-6)) + 60) / 60)) * 100)}%`} />
          </div>
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
      </div>
      <h2>{t('liveStreams')}</h2>
      <table data-testid="streams" class="clickable">
        <thead>
          <tr>
            <th>#</th>
            <th>{t('liveSource')}</th>
            <th>{t('status')}</th>
            <th>{t('liveStarted')}</th>
            <th>{t('liveBy')}</th>
            <th>{t('liveSites')}</th>
            <th>{t('liveLossHeard')}</th>
            <th>{t('liveSkew')} p99</th>
          </tr>
        </thead>
        <tbody>
          {(streams.data?.streams ?? []).slice(0, 20).map((s) => (
            <tr data-stream={s.id} data-state={s.state} class={selected === s.id ? 'selected' : ''} onClick={() => setSelected(s.id)}>
              <td>#{s.id}</td>
              <td>{sourceText(s)}</td>
              <td class={s.state === 'live' ? 'live-cell' : ''}>{stateText(s)}</td>
              <td>{formatTime(s.startedAt)}</td>
              <td class="muted">{s.startedBy}</td>
              <td>{s.sites.sites}</td>
              <td>{pct(s.sites.unconcealedLossRatio)}</td>
              <td>{ms(s.skew.p99Ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {streams.error && <p class="error">{streams.error}</p>}
      {selected !== null && <StreamDetailCard key={selected} id={selected} onClose={() => setSelected(null)} />}
    </section>
  );
}
