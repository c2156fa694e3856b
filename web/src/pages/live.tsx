/**
 * Go live from the browser microphone: PCM from an AudioWorklet (48 kHz,
 * 16-bit, 20 ms frames) over a WebSocket to the server, which encodes Opus
 * for the chosen areas. A level meter shows the voice is heard, and an
 * unmistakable on-air sign shows when the loudspeakers carry it.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { formatTime, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { AreaView, Me } from '../types.ts';

interface StreamView {
  id: number;
  state: string;
  label?: string | null;
  startedAt?: number;
  startedBy?: string | null;
  areas?: Array<{ key: string } | string>;
}

export function LivePage(props: { me: Me }) {
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const streams = useApi<{ streams: StreamView[] }>('/api/live/streams');
  const [area, setArea] = useState(props.me.area ?? '');
  const [state, setState] = useState<'idle' | 'connecting' | 'on-air'>('idle');
  const [level, setLevel] = useState(0);
  const [error, setError] = useState('');
  const session = useRef<{ ws: WebSocket; ctx: AudioContext; mic: MediaStream } | null>(null);

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
      <table data-testid="streams">
        <tbody>
          {(streams.data?.streams ?? []).slice(0, 20).map((s) => (
            <tr>
              <td>#{s.id}</td>
              <td>{s.label ?? ''}</td>
              <td>{s.state}</td>
              <td>{s.startedAt ? formatTime(s.startedAt) : ''}</td>
              <td class="muted">{s.startedBy ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
