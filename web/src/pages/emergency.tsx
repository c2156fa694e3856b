/**
 * Emergency alerts, for an official under stress: few choices, big buttons,
 * a confirmation that says where it goes, then a tracker that fills up to
 * 100% and lists every site not reached yet with why. The bar counts only
 * sites that played the message: a site that sounded its siren and could
 * not get the message is listed apart ("attention signal only"), with why.
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, qs } from '../api.ts';
import { formatClock, formatNumber, formatShare, formatTime, lang, t } from '../i18n.ts';
import { reasonDetail, reasonWords } from '../site-words.ts';
import { useApi } from '../hooks.ts';
import { navigate } from '../router.ts';
import type { AlertDetail, AlertSummary, AreaView, CoverageReport, Me, SiteBrief } from '../../../api/index.ts';
import { ShareBar } from '../components/condition.tsx';
import { inside as insidePolygon, PolygonDraw, type LatLon } from '../components/polygon-draw.tsx';
import { onLive } from '../live-updates.ts';
import { LanguageVersions, type VersionChoice } from '../components/language-versions.tsx';
import { AddVersions, AlertLanguages } from '../components/alert-languages.tsx';
import { useLanguageNames } from '../language-names.ts';

/** What the API plays when the caller says nothing (protocol DEFAULT_ALERT_REPEATS). */
const DEFAULT_REPEATS = 3;

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
  {
    id: 'flood',
    vi: 'Lũ quét, sạt lở đất',
    en: 'Flash flood, landslide',
    text: 'Cảnh báo lũ quét và sạt lở đất. Người dân sống ven sông suối và sườn đồi hãy khẩn trương di chuyển đến nơi an toàn theo hướng dẫn của chính quyền.',
  },
  { id: 'storm', vi: 'Bão, dông lốc', en: 'Storm', text: 'Cảnh báo bão và dông lốc. Người dân ở trong nhà, chằng chống nhà cửa, không ra sông suối, không trú dưới cây to.' },
  { id: 'fire', vi: 'Cháy rừng', en: 'Forest fire', text: 'Cảnh báo cháy rừng. Người dân không vào rừng, không đốt nương, sẵn sàng sơ tán theo hướng dẫn.' },
  { id: 'cold', vi: 'Rét đậm, rét hại', en: 'Severe cold', text: 'Cảnh báo rét đậm rét hại. Người dân giữ ấm cơ thể, che chắn chuồng trại cho gia súc.' },
];

/** Where an alert goes: the whole province, chosen communes, or an area drawn over the sites. */
type Where = 'province' | 'communes' | 'polygon';

/** Validity offered (minutes): the API takes any from 1 minute to 7 days. */
const VALIDITY_MIN = [15, 30, 60, 120, 240, 720, 1440];

export function EmergencyPage(props: { me: Me }) {
  const canSend = props.me.permissions.includes('alert.write');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const provinces = useApi<{ areas: AreaView[] }>('/api/areas?level=province');
  const recent = useApi<{ alerts: AlertSummary[] }>('/api/alerts?limit=20');
  const [where, setWhere] = useState<Where>('communes');
  const [chosen, setChosen] = useState<string[]>(props.me.area ? [props.me.area] : []);
  const [filter, setFilter] = useState('');
  const [polygon, setPolygon] = useState<LatLon[]>([]);
  const sitesForMap = useApi<{ sites: SiteBrief[] }>(where === 'polygon' ? '/api/sites?brief=true&limit=50000' : null);
  const [template, setTemplate] = useState('');
  const [text, setText] = useState('');
  const [attention, setAttention] = useState<'siren' | 'chime' | 'none'>('siren');
  const [repeats, setRepeats] = useState(DEFAULT_REPEATS);
  const [ownVolume, setOwnVolume] = useState(false);
  const [volume, setVolume] = useState(80);
  const [validFor, setValidFor] = useState(60);
  const [test, setTest] = useState(false);
  const [versions, setVersions] = useState<VersionChoice>({});
  const names = useLanguageNames();
  // Kept open once opened, so going back from the confirmation shows the versions chosen.
  const [showVersions, setShowVersions] = useState(false);
  const [step, setStep] = useState<'compose' | 'confirm'>('compose');
  const [sites, setSites] = useState<{ all: number; offline: number } | null>(null);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const province = provinces.data?.areas[0];
  const communeList = communes.data?.areas ?? [];
  const nameOf = (key: string) => communeList.find((a) => a.key === key)?.name ?? key;
  const targetKeys = where === 'province' ? (province ? [province.key] : []) : where === 'communes' ? chosen : [];
  const ready = (where === 'polygon' ? polygon.length >= 3 : targetKeys.length > 0) && text.trim() !== '';
  const whereText =
    where === 'province'
      ? t('wholeProvince', { name: province?.name ?? '' })
      : where === 'polygon'
        ? t('drawnArea', { n: polygon.length })
        : chosen.length === 1
          ? nameOf(chosen[0]!)
          : t('communesN', { n: chosen.length, names: chosen.map(nameOf).join(', ') });
  // Only versions whose item is ready go: one still uploading or recording never holds the alert back (it can be added once it runs).
  const readyVersions = Object.entries(versions)
    .filter(([, mediaId]) => mediaId !== '')
    .map(([language, mediaId]) => ({ language, mediaId }));
  // The languages spoken where it goes, in every commune chosen; for a drawn area the official adds the languages themselves.
  const versionsAreas = where === 'polygon' ? [] : targetKeys;

  const review = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      if (where === 'polygon') {
        const all = sitesForMap.data?.sites ?? [];
        const inArea = all.filter((x) => x.lat !== null && x.lon !== null && insidePolygon([x.lat, x.lon], polygon));
        setSites({ all: inArea.length, offline: inArea.filter((x) => x.condition === 'offline' || x.condition === 'unverified').length });
      } else {
        const reports = await Promise.all(targetKeys.map((area) => api<CoverageReport>('GET', `/api/coverage${qs({ area, limit: 0 })}`)));
        setSites({ all: reports.reduce((n, c) => n + c.sites, 0), offline: reports.reduce((n, c) => n + c.offline + c.unverified, 0) });
      }
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
      const r = await api<{ id: string }>('POST', '/api/alerts', {
        ...(where === 'polygon' ? { polygon } : { areas: targetKeys }),
        title: tpl ? tpl.vi : undefined,
        message: { text },
        attention: attention === 'none' ? null : attention,
        repeats,
        volume: ownVolume ? volume : null,
        validForMinutes: validFor,
        test,
        ...(readyVersions.length > 0 ? { versions: readyVersions } : {}),
      });
      navigate(`/emergency/${encodeURIComponent(r.id)}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
      setBusy(false);
    }
  };
  const toggle = (key: string, on: boolean) => setChosen((cur) => (on ? [...cur.filter((k) => k !== key), key] : cur.filter((k) => k !== key)));
  const shown = communeList.filter((a) => !filter.trim() || a.name.toLocaleLowerCase('vi').includes(filter.trim().toLocaleLowerCase('vi')));

  return (
    <section>
      <h1>{t('emergency')}</h1>
      {canSend && step === 'compose' && (
        <form class="card" onSubmit={review} data-testid="alert-form">
          <fieldset class="where" data-testid="alert-where">
            <legend>{t('chooseArea')}</legend>
            <div class="row">
              {province && (
                <label class="inline" style="flex-direction:row;align-items:center;gap:.3rem">
                  <input type="radio" name="where" value="province" checked={where === 'province'} onChange={() => setWhere('province')} />{' '}
                  {t('wholeProvince', { name: province.name })}
                </label>
              )}
              <label class="inline" style="flex-direction:row;align-items:center;gap:.3rem">
                <input type="radio" name="where" value="communes" checked={where === 'communes'} onChange={() => setWhere('communes')} /> {t('someCommunes')}
              </label>
              <label class="inline" style="flex-direction:row;align-items:center;gap:.3rem">
                <input type="radio" name="where" value="polygon" checked={where === 'polygon'} onChange={() => setWhere('polygon')} /> {t('drawArea')}
              </label>
            </div>
            {where === 'communes' && (
              <div data-testid="commune-choice">
                <input type="search" name="communeFilter" placeholder={t('findCommune')} value={filter} onInput={(e) => setFilter(e.currentTarget.value)} style="width:100%" />
                <div class="commune-list" style="max-height:14rem;overflow-y:auto;border:1px solid var(--line);border-radius:6px;padding:.25rem .5rem;margin-top:.3rem">
                  {shown.map((a) => (
                    <label class="inline" style="flex-direction:row;align-items:center;gap:.4rem;padding:.2rem 0">
                      <input type="checkbox" name="area" value={a.key} checked={chosen.includes(a.key)} onChange={(e) => toggle(a.key, e.currentTarget.checked)} /> {a.name}
                    </label>
                  ))}
                </div>
                <p class="muted" data-testid="chosen-communes" data-n={chosen.length}>
                  {chosen.length === 0 ? t('noCommuneChosen') : t('communesN', { n: chosen.length, names: chosen.map(nameOf).join(', ') })}
                </p>
              </div>
            )}
            {where === 'polygon' && <PolygonDraw sites={sitesForMap.data?.sites ?? []} value={polygon} onChange={setPolygon} />}
          </fieldset>
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
          <label>
            {t('text')}
            <textarea name="text" rows={4} value={text} onInput={(e) => setText(e.currentTarget.value)} required maxLength={4000} />
          </label>
          <div class="row" style="margin-top:.5rem">
            <label>
              {t('attentionSignal')}
              <select name="attention" value={attention} onChange={(e) => setAttention(e.currentTarget.value as 'siren' | 'chime' | 'none')}>
                <option value="siren">{t('siren')}</option>
                <option value="chime">{t('chime')}</option>
                <option value="none">{t('noSignal')}</option>
              </select>
            </label>
            <label>
              {t('repeatsLabel')}
              <input
                type="number"
                name="repeats"
                min={1}
                max={20}
                value={repeats}
                onInput={(e) => setRepeats(Math.min(20, Math.max(1, Number(e.currentTarget.value) || 1)))}
                style="width:5rem"
              />
            </label>
            <label>
              {t('validity')}
              <select name="validFor" value={validFor} onChange={(e) => setValidFor(Number(e.currentTarget.value))}>
                {VALIDITY_MIN.map((m) => (
                  <option value={m}>{m < 60 ? t('minutesN', { n: m }) : t('hoursN', { n: m / 60 })}</option>
                ))}
              </select>
            </label>
          </div>
          <div class="row">
            <label class="inline" style="flex-direction:row;align-items:center;gap:.3rem">
              <input type="checkbox" name="ownVolume" checked={ownVolume} onChange={(e) => setOwnVolume(e.currentTarget.checked)} /> {t('alertVolume')}
            </label>
            {ownVolume && (
              <label class="inline" style="flex-direction:row;align-items:center;gap:.3rem">
                <input type="range" name="volume" min={0} max={100} step={5} value={volume} onInput={(e) => setVolume(Number(e.currentTarget.value))} />{' '}
                <span data-testid="volume-value">{formatNumber(volume, 0, '%')}</span>
              </label>
            )}
          </div>
          <details class="alert-versions" data-testid="alert-versions-section" open={showVersions} onToggle={(e) => setShowVersions(e.currentTarget.open)}>
            <summary>{t('alertVersionsSection')}</summary>
            <p class="muted">{t('alertVersionsHint')}</p>
            {/* Asked for only when opened: the library and the area's languages are not fetched for every official opening the page. */}
            {showVersions && (
              <LanguageVersions
                areas={versionsAreas}
                defaultLang="vi"
                title={TEMPLATES.find((x) => x.id === template)?.vi ?? t('alertMessageAudio')}
                value={versions}
                onChange={setVersions}
                canWrite={canSend}
                names={names}
                onError={(e) => setError(e instanceof Error ? e.message : String(e))}
              />
            )}
          </details>
          {error && (
            <p class="error" role="alert">
              {error}
            </p>
          )}
          <div class="row" style="margin-top:.5rem">
            <label style="flex-direction:row;align-items:center;gap:.3rem">
              <input type="checkbox" name="test" checked={test} onChange={(e) => setTest(e.currentTarget.checked)} /> {t('isTest')}
            </label>
            <button type="submit" class="huge" disabled={!ready}>
              {t('review')}
            </button>
          </div>
        </form>
      )}
      {canSend && step === 'confirm' && (
        <div class="card" data-testid="alert-confirm">
          <p class="big">{t('confirmAlert', { area: whereText })}</p>
          {sites !== null && (
            <p>
              {t('sitesN', { n: sites.all })}
              {sites.offline > 0 && <strong class="error"> — {t('sitesOffline', { n: sites.offline })}</strong>}
            </p>
          )}
          <blockquote>{text}</blockquote>
          <p data-testid="alert-settings">
            {attention === 'none' ? t('noSignal') : t(attention)} · {t('repeatsN', { n: repeats })} ·{' '}
            {ownVolume ? t('volumeN', { n: formatNumber(volume, 0, '%') }) : t('siteVolume')} · {t('validUntilT', { time: formatClock(Date.now() + validFor * 60_000) })}
          </p>
          {readyVersions.length > 0 && (
            <p data-testid="alert-versions-chosen" data-languages={readyVersions.map((v) => v.language).join(',')}>
              {t('alertVersionsChosen', { langs: names.list(readyVersions.map((v) => v.language)) })}
            </p>
          )}
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
      <div class="scroll">
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
      </div>
    </section>
  );
}

export function AlertTrackerPage(props: { me: Me; id: string }) {
  const [data, setData] = useState<Tracking | null>(null);
  const [error, setError] = useState('');
  const [reloads, setReloads] = useState(0);
  const load = () => setReloads((n) => n + 1);
  const names = useLanguageNames();
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
  }, [props.id, reloads]);

  if (!data) return <p class={error ? 'error' : 'muted'}>{error || t('loading')}</p>;
  const c = data.delivery.counts;
  const share = c.targeted ? c.confirmedPlaying / c.targeted : null;
  // Once stopped or expired the bar would read as "done": the figures are what played before the end.
  const ended = data.alert.state !== 'active';
  const cancelled = data.alert.state === 'cancelled';
  const cancel = async () => {
    // Stopping a live alert silences every loudspeaker it reaches: asked first, like a reboot or locking a user.
    if (!window.confirm(t('confirmCancelAlert', { title: data.alert.title }))) return;
    await api('POST', `/api/alerts/${encodeURIComponent(props.id)}/cancel`).then(
      () => load(),
      (e: Error) => setError(e.message),
    );
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
      {ended && (
        <p class={cancelled ? 'error' : 'muted'} style="font-weight:700;font-size:1.1rem" data-testid="alert-ended" data-state={data.alert.state}>
          {cancelled
            ? t('cancelledAtBy', { time: formatTime(data.alert.endedAt), name: data.alert.endedByName ?? '—' })
            : t('expiredAt', { time: formatTime(data.alert.endedAt ?? data.alert.validUntil) })}
        </p>
      )}
      <div class="card">
        {ended ? (
          <>
            <p class="big" data-testid="alert-progress" data-state={data.alert.state} data-reached={c.confirmedPlaying} data-targeted={c.targeted}>
              {t(cancelled ? 'beforeCancel' : 'beforeExpiry', { done: c.confirmedPlaying, all: c.targeted })}
            </p>
            <p data-testid="alert-ended-detail" data-completed={c.completed} data-stopped={c.stopped}>
              {t('playedThrough', { n: c.completed })}
              {c.stopped > 0 && ` · ${t(cancelled ? 'cutByCancel' : 'cutByEnd', { n: c.stopped })}`}
              {c.unreached > 0 && ` · ${t('neverPlayed', { n: c.unreached })}`}
            </p>
          </>
        ) : (
          <>
            <p class="big" data-testid="alert-progress" data-state="active" data-reached={c.confirmedPlaying} data-targeted={c.targeted}>
              {formatShare(share)} — {t('reached', { done: c.confirmedPlaying, all: c.targeted })}
            </p>
            <ShareBar share={share} />
          </>
        )}
        {c.started !== c.confirmedPlaying && (
          <p data-testid="alert-started" data-started={c.started}>
            {t('startedSound', { n: c.started, all: c.targeted })}
          </p>
        )}
        {c.heard + c.notHeard > 0 && <p data-testid="alert-heard">{t('heardByMic', { n: c.heard, all: c.heard + c.notHeard })}</p>}
        {data.alert.media ? (
          // The alert's own audio (kept apart from the bulletin library, reached here by its id).
          <figure style="margin:.5rem 0 0">
            <figcaption class="muted">{t('alertMessageAudio')}</figcaption>
            {/* biome-ignore lint/a11y/useMediaCaption: speech made from the alert's text (or a recording); no caption track exists, the text is the alert's own */}
            <audio
              controls
              preload="none"
              src={`/api/media/${encodeURIComponent(data.alert.media.mediaId)}/audio`}
              data-testid="alert-audio"
              data-media={data.alert.media.mediaId}
            />
            {data.alert.message.kind === 'tts' && <blockquote data-testid="alert-text">{data.alert.message.text}</blockquote>}
          </figure>
        ) : (
          <p class="muted" data-testid="alert-audio-state" data-state={data.alert.messageState}>
            {data.alert.messageState === 'failed' ? t('alertAudioFailed', { why: data.alert.messageReason ?? '—' }) : t('alertAudioPreparing')}
          </p>
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
                  <td title={reasonDetail(u.reasons)}>{u.reasons.map(reasonWords).join('; ')}</td>
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
                  <td title={reasonDetail(u.reasons)}>{u.reasons.map(reasonWords).join('; ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h2>
        {t(ended ? 'unreachedEnded' : 'unreachedSites')} ({c.unreached})
      </h2>
      {c.unreached === 0 && c.attentionOnly === 0 ? (
        <p class="ok" data-testid="all-reached">
          {t(ended ? 'allReachedBeforeEnd' : 'allReached')}
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
                <td title={reasonDetail(u.reasons)}>{u.reasons.map(reasonWords).join('; ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {((data.alert.versions?.length ?? 0) > 0 || (data.delivery.languages?.length ?? 0) > 0) && <AlertLanguages data={data} names={names} />}
      {data.alert.state === 'active' && props.me.permissions.includes('alert.write') && <AddVersions data={data} names={names} onAdded={load} />}
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
