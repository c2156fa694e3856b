/**
 * Emergency alerts, for an official under stress: few choices, big buttons,
 * a confirmation that says where it goes, then a tracker that fills up to
 * 100% and lists every site not reached yet with why. The bar counts only
 * sites that played the message: a site that sounded its siren and could
 * not get the message is listed apart ("attention signal only"), with why.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, qs } from '../api.ts';
import { formatShare, formatTime, lang, reasonText, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import { navigate } from '../router.ts';
import type { AlertDetail, AlertSummary, AreaView, CoverageReport, Me } from '../../../api/index.ts';
import { ShareBar } from '../components/condition.tsx';
import { onLive } from '../live-updates.ts';

/** Only for a dropped stream: the tracker reloads on the stream's `alert` events for its alert. */
const FALLBACK_REFRESH_MS = 30_000;

type Tracking = AlertDetail;

/** A site's delivery status (server/alerts/model.ts DeliveryStatus) in words. */
const DELIVERY_STATUS: Record<string, { vi: string; en: string }> = {
  pending: { vi: 'chưa nhận được', en: 'not received yet' },
  received: { vi: 'đã nhận, chưa phát', en: 'received, not playing yet' },
  playing: { vi: 'đang phát', en: 'playing' },
  completed: { vi: 'đã phát xong', en: 'completed' },
  failed: { vi: 'lỗi khi phát', en: 'failed' },
  stopped: { vi: 'đã dừng', en: 'stopped' },
};

/** Standard messages (Vietnamese first: what the loudspeakers say). */
const TEMPLATES: Array<{ id: string; vi: string; en: string; text: string }> = [
  { id: 'flood', vi: 'Lũ quét, sạt lở đất', en: 'Flash flood, landslide', text: 'Cảnh báo lũ quét và sạt lở đất. Người dân sống ven sông suối và sườn đồi hãy khẩn trương di chuyển đến nơi an toàn theo hướng dẫn của chính quyền.' },
  { id: 'storm', vi: 'Bão, dông lốc', en: 'Storm', text: 'Cảnh báo bão và dông lốc. Người dân ở trong nhà, chằng chống nhà cửa, không ra sông suối, không trú dưới cây to.' },
  { id: 'fire', vi: 'Cháy rừng', en: 'Forest fire', text: 'Cảnh báo cháy rừng. Người dân không vào rừng, không đốt nương, sẵn sàng sơ tán theo hướng dẫn.' },
  { id: 'cold', vi: 'Rét đậm, rét hại', en: 'Severe cold', text: 'Cảnh báo rét đậm rét hại. Người dân giữ ấm cơ thể, che chắn chuồng trại cho gia súc.' },
];

export function EmergencyPage(props: { me: Me }) {
  const canSend = props.me.permissions.includes('alert.write');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const recent = useApi<{ alerts: AlertSummary[] }>('/api/alerts?limit=20');
  const [area, setArea] = useState(props.me.area ?? '');
  const [template, setTemplate] = useState('');
  const [text, setText] = useState('');
  const [test, setTest] = useState(false);
  const [step, setStep] = useState<'compose' | 'confirm'>('compose');
  const [sites, setSites] = useState<{ all: number; offline: number } | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const areaName = communes.data?.areas.find((a) => a.key === area)?.name ?? area;
  const review = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const c = await api<CoverageReport>('GET', `/api/coverage${qs({ area, limit: 0 })}`);
      setSites({ all: c.sites, offline: c.offline + c.unverified });
    } catch {
      setSites(null);
    }
    setStep('confirm');
  };
  const send = async () => {
    setBusy(true);
    setError('');
    try {
      const tpl = TEMPLATES.find((x) => x.id === template);
      const r = await api<{ id: string }>('POST', '/api/alerts', { areas: [area], title: tpl ? tpl.vi : undefined, message: { text }, test });
      navigate(`/emergency/${encodeURIComponent(r.id)}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>{t('emergency')}</h1>
      {canSend && step === 'compose' && (
        <form class="card" onSubmit={review} data-testid="alert-form">
          <div class="row">
            <label>
              {t('chooseArea')}
              <select name="area" value={area} onChange={(e) => setArea(e.currentTarget.value)} required>
                <option value="" />
                {(communes.data?.areas ?? []).map((a) => (
                  <option value={a.key}>{a.name}</option>
                ))}
              </select>
            </label>
            <label>
              {t('template')}
              <select
                name="template"
                value={template}
                onChange={(e) => {
                  const id = e.currentTarget.value;
                  setTemplate(id);
                  const tpl = TEMPLATES.find((x) => x.id === id);
                  if (tpl) setText(tpl.text);
                }}
              >
                <option value="">{t('freeText')}</option>
                {TEMPLATES.map((x) => (
                  <option value={x.id}>{lang() === 'vi' ? x.vi : x.en}</option>
                ))}
              </select>
            </label>
          </div>
          <label>
            {t('text')}
            <textarea name="text" rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} required maxLength={4000} />
          </label>
          <div class="row" style="margin-top:.5rem">
            <label style="flex-direction:row;align-items:center;gap:.3rem">
              <input type="checkbox" name="test" checked={test} onChange={(e) => setTest(e.currentTarget.checked)} /> {t('isTest')}
            </label>
            <button type="submit" class="huge" disabled={!area || !text.trim()}>
              {t('review')}
            </button>
          </div>
        </form>
      )}
      {canSend && step === 'confirm' && (
        <div class="card" data-testid="alert-confirm">
          <p class="big">{t('confirmAlert', { area: areaName })}</p>
          {sites !== null && (
            <p>
              {t('sitesN', { n: sites.all })}
              {sites.offline > 0 && <strong class="error"> — {t('sitesOffline', { n: sites.offline })}</strong>}
            </p>
          )}
          <blockquote>{text}</blockquote>
          {test && <p class="muted">{t('isTest')}</p>}
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          <div class="row">
            <button type="button" class="danger huge" onClick={send} disabled={busy} data-testid="send-alert">
              {t('sendAlert')}
            </button>
            <button type="button" class="secondary" onClick={() => setStep('compose')}>
              {t('back')}
            </button>
          </div>
        </div>
      )}

      <h2>{t('recentAlerts')}</h2>
      <table data-testid="alerts">
        <tbody>
          {(recent.data?.alerts ?? []).map((a) => (
            <tr>
              <td>
                <a href={`/emergency/${encodeURIComponent(a.id)}`}>{a.title}</a>
                {a.test && <span class="muted"> ({t('isTest')})</span>}
              </td>
              <td>{a.state === 'active' ? t('active') : a.state === 'cancelled' ? t('cancelled') : t('expiredAlert')}</td>
              <td>
                {a.delivery.confirmedPlaying} / {a.delivery.targeted}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function AlertTrackerPage(props: { me: Me; id: string }) {
  const [data, setData] = useState<Tracking | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    let stop = false;
    let timer = 0;
    // Reloaded when the stream says this alert changed (the server coalesces delivery
    // storms to a few events a second); the slow timer only covers a dropped stream.
    const load = (): void => {
      clearTimeout(timer);
      api<Tracking>('GET', `/api/alerts/${encodeURIComponent(props.id)}`).then(
        (d) => {
          if (stop) return;
          setData(d);
          setError('');
          if (d.alert.state === 'active') timer = window.setTimeout(load, FALLBACK_REFRESH_MS);
        },
        (e: Error) => {
          if (stop) return;
          setError(e.message);
          timer = window.setTimeout(load, 3000);
        },
      );
    };
    load();
    const off = onLive('alert', (e) => {
      if (!stop && e.alertId === props.id) load();
    });
    return () => {
      stop = true;
      off();
      clearTimeout(timer);
    };
  }, [props.id]);

  if (!data) return <p class={error ? 'error' : 'muted'}>{error || t('loading')}</p>;
  const c = data.delivery.counts;
  const share = c.targeted ? c.confirmedPlaying / c.targeted : null;
  const cancel = async () => {
    await api('POST', `/api/alerts/${encodeURIComponent(props.id)}/cancel`).catch((e: Error) => setError(e.message));
  };
  return (
    <section class="tracker">
      <h1>
        {t('tracker')}: {data.alert.title}
      </h1>
      <p class="muted">
        {formatTime(data.delivery.issuedAt)} · {data.alert.state === 'active' ? t('active') : data.alert.state === 'cancelled' ? t('cancelled') : t('expiredAlert')}
        {data.alert.test ? ` · ${t('isTest')}` : ''}
      </p>
      <div class="card">
        <p class="big" data-testid="alert-progress" data-reached={c.confirmedPlaying} data-targeted={c.targeted}>
          {formatShare(share)} — {t('reached', { done: c.confirmedPlaying, all: c.targeted })}
        </p>
        <ShareBar share={share} />
        {c.started !== c.confirmedPlaying && (
          <p data-testid="alert-started" data-started={c.started}>
            {t('startedSound', { n: c.started, all: c.targeted })}
          </p>
        )}
        {c.heard + c.notHeard > 0 && (
          <p data-testid="alert-heard">{t('heardByMic', { n: c.heard, all: c.heard + c.notHeard })}</p>
        )}
      </div>
      {c.attentionOnly > 0 && (
        <>
          <h2>
            {t('attentionOnlySites')} ({c.attentionOnly})
          </h2>
          <table data-testid="attention-only">
            <tbody>
              {data.delivery.attentionOnly.map((u) => (
                <tr>
                  <td>
                    <a href={`/sites/${encodeURIComponent(u.siteId)}`}>{u.name}</a> <span class="muted">{u.areaName ?? ''}</span>
                  </td>
                  <td>{u.status === 'playing' ? t('attentionOnlyNow') : DELIVERY_STATUS[u.status] ? DELIVERY_STATUS[u.status]![lang()] : u.status}</td>
                  <td>{u.reasons.map((r) => reasonText(r)).join('; ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {data.delivery.notHeard.length > 0 && (
        <>
          <h2>
            {t('playedNotHeard')} ({c.notHeard})
          </h2>
          <table data-testid="not-heard">
            <tbody>
              {data.delivery.notHeard.map((u) => (
                <tr>
                  <td>
                    <a href={`/sites/${encodeURIComponent(u.siteId)}`}>{u.name}</a> <span class="muted">{u.areaName ?? ''}</span>
                  </td>
                  <td>{u.reasons.map((r) => reasonText(r)).join('; ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2>
        {t('unreachedSites')} ({c.unreached})
      </h2>
      {c.unreached === 0 && c.attentionOnly === 0 ? (
        <p class="ok" data-testid="all-reached">
          {t('allReached')}
        </p>
      ) : c.unreached === 0 ? null : (
        <table data-testid="unreached">
          <tbody>
            {data.delivery.unreached.map((u) => (
              <tr>
                <td>
                  <a href={`/sites/${encodeURIComponent(u.siteId)}`}>{u.name}</a> <span class="muted">{u.areaName ?? ''}</span>
                </td>
                <td>{DELIVERY_STATUS[u.status] ? DELIVERY_STATUS[u.status]![lang()] : u.status}</td>
                <td>{u.reasons.map((r) => reasonText(r)).join('; ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data.alert.state === 'active' && props.me.permissions.includes('alert.write') && (
        <p>
          <button type="button" class="danger" onClick={cancel}>
            {t('cancelAlert')}
          </button>
        </p>
      )}
      {error && <p class="error">{error}</p>}
    </section>
  );
}
