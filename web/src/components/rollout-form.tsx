/**
 * A new rollout: a complete release, the areas (and optionally sites or a
 * device profile) it goes to, its waves (a canary of named sites, then
 * growing shares), thresholds, and when a site may not start. "Chạy thử"
 * (POST /api/rollouts/dry-run) lists who is updated in which wave and who is
 * left out and why, storing nothing; "Tạo" creates it and opens its page.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { errorText } from '../hooks.ts';
import { t } from '../i18n.ts';
import { navigate } from '../router.ts';
import type { AreaView, Me, ReleaseView, RolloutDetail, RolloutDryRun, RolloutRequest } from '../../../api/index.ts';
import { wordCode } from '../update-words.ts';

type Waves = RolloutRequest['waves'];
type Hours = NonNullable<RolloutRequest['excludedHours']>;

const ids = (s: string) =>
  s
    .split(/[\s,;]+/)
    .map((x) => x.trim())
    .filter(Boolean);

/** "10, 50, 100" → growing shares, or null when they are not. */
export function parsePercents(s: string): number[] | null {
  const out: number[] = [];
  for (const p of ids(s)) {
    const n = Number(p.replace(',', '.'));
    if (!Number.isFinite(n) || n <= 0 || n > 100 || (out.length > 0 && n <= out[out.length - 1]!)) return null;
    out.push(n);
  }
  return out;
}

/** "22:00-05:00, 11:30-13:30" → hour ranges, or null when one does not read HH:MM-HH:MM. */
export function parseHours(s: string): Hours | null {
  const out: Hours = [];
  for (const part of s
    .split(/[,;]/)
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^([01]\d|2[0-3]):([0-5]\d)\s*[-–]\s*([01]\d|2[0-3]):([0-5]\d)$/.exec(part);
    if (!m) return null;
    out.push({ from: `${m[1]}:${m[2]}`, to: `${m[3]}:${m[4]}` });
  }
  return out;
}

export function RolloutForm(props: { me: Me; releases: ReleaseView[]; communes: AreaView[]; onCreated: () => void }) {
  const [releaseId, setReleaseId] = useState('');
  const [areas, setAreas] = useState<string[]>(props.me.area ? [props.me.area] : []);
  const [filter, setFilter] = useState('');
  const [sites, setSites] = useState('');
  const [profile, setProfile] = useState('');
  const [canary, setCanary] = useState('');
  const [percents, setPercents] = useState('10, 50, 100');
  const [success, setSuccess] = useState('90');
  const [error, setError] = useState('10');
  const [minFinished, setMinFinished] = useState('3');
  const [onError, setOnError] = useState<'pause' | 'abort'>('pause');
  const [maxInFlight, setMaxInFlight] = useState('50');
  const [hours, setHours] = useState('');
  const [margin, setMargin] = useState('15');
  const [problem, setProblem] = useState<string | null>(null);
  const [dry, setDry] = useState<RolloutDryRun | null>(null);
  const [busy, setBusy] = useState(false);

  const chosenRelease = releaseId || props.releases[0]?.id || '';
  /** An area's name: a commune's own, or for a village (2025.02683-01) the commune it lies in. */
  const nameOf = (key: string) => props.communes.find((a) => a.key === key || key.startsWith(`${a.key}-`) || key.startsWith(`${a.key}.`))?.name ?? key;
  const toggle = (key: string, on: boolean) => setAreas((cur) => (on ? [...cur.filter((k) => k !== key), key] : cur.filter((k) => k !== key)));
  const shown = props.communes.filter((a) => !filter.trim() || a.name.toLocaleLowerCase('vi').includes(filter.trim().toLocaleLowerCase('vi')));

  /** The request from the form, or a problem in the user's words. */
  const request = (): RolloutRequest | string => {
    const shares = parsePercents(percents);
    if (shares === null) return t('updBadPercents');
    const excluded = parseHours(hours);
    if (excluded === null) return t('updBadHours');
    const num = (v: string, label: Parameters<typeof t>[0], int: boolean) => {
      const n = Number(v.replace(',', '.'));
      return v.trim() === '' || !Number.isFinite(n) || (int && !Number.isInteger(n)) ? t('updBadNumber', { field: t(label) }) : n;
    };
    const s = num(success, 'updSuccessThreshold', false);
    const e = num(error, 'updErrorThreshold', false);
    const mf = num(minFinished, 'updMinFinished', true);
    const mx = num(maxInFlight, 'updMaxInFlight', true);
    const mg = num(margin, 'updBroadcastMargin', true);
    for (const x of [s, e, mf, mx, mg]) if (typeof x === 'string') return x;
    const canarySites = ids(canary);
    const waves: Waves = [
      ...(canarySites.length ? [{ name: t('updCanaryName'), sites: canarySites }] : []),
      ...shares.map((percent, i) => ({ name: t('updWaveName', { n: i + 1, percent }), percent })),
    ];
    if (waves.length === 0) return t('updBadPercents');
    const siteList = ids(sites);
    if (areas.length === 0 && siteList.length === 0 && !profile.trim()) return t('updNeedTargets');
    return {
      releaseId: chosenRelease,
      targets: {
        ...(areas.length ? { areas } : {}),
        ...(siteList.length ? { sites: siteList } : {}),
        ...(profile.trim() ? { profile: profile.trim() } : {}),
      },
      waves,
      successThreshold: (s as number) / 100,
      errorThreshold: (e as number) / 100,
      minFinished: mf as number,
      onError,
      maxInFlight: mx as number,
      ...(excluded.length ? { excludedHours: excluded } : {}),
      broadcastMarginMin: mg as number,
    };
  };

  const send = async (what: 'dry' | 'create') => {
    const body = request();
    if (typeof body === 'string') {
      setProblem(body);
      return;
    }
    setProblem(null);
    setBusy(true);
    try {
      if (what === 'dry') setDry(await api<RolloutDryRun, RolloutRequest>('POST', '/api/rollouts/dry-run', body));
      else {
        const r = await api<RolloutDetail, RolloutRequest>('POST', '/api/rollouts', body);
        props.onCreated();
        navigate(`/updates/rollouts/${encodeURIComponent(r.id)}`);
      }
    } catch (err) {
      setProblem(err instanceof Error ? errorText(err) : String(err));
    } finally {
      setBusy(false);
    }
  };

  const text = (value: string, set: (v: string) => void, name: string, label: Parameters<typeof t>[0], inputMode: 'numeric' | 'decimal' | 'text' = 'text') => (
    <label>
      {t(label)}
      <input name={name} value={value} inputMode={inputMode} onInput={(e) => set(e.currentTarget.value)} />
    </label>
  );

  return (
    <form class="card upd-form" data-testid="rollout-form" onSubmit={(e) => (e.preventDefault(), send('create'))}>
      <h3>{t('updNewRollout')}</h3>
      {props.releases.length === 0 ? (
        <p class="muted">{t('updNoUsableRelease')}</p>
      ) : (
        <label>
          {t('updChooseRelease')}
          <select name="releaseId" value={chosenRelease} onChange={(e) => setReleaseId(e.currentTarget.value)}>
            {props.releases.map((r) => (
              <option value={r.id}>
                {wordCode('updComponent_', r.component)} {r.version} ({r.id})
              </option>
            ))}
          </select>
        </label>
      )}
      <fieldset data-testid="rollout-areas">
        <legend>{t('updTargetAreas')}</legend>
        <input type="search" name="areaFilter" placeholder={t('updFindArea')} value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
        <div class="upd-areas">
          {shown.map((a) => (
            <label class="upd-check">
              <input type="checkbox" name="area" value={a.key} checked={areas.includes(a.key)} onChange={(e) => toggle(a.key, e.currentTarget.checked)} /> {a.name}
            </label>
          ))}
        </div>
        <p class="muted">{areas.length === 0 ? t('updNoAreaChosen') : t('updAreasChosen', { n: areas.length, names: areas.map(nameOf).join(', ') })}</p>
      </fieldset>
      <div class="upd-fields">
        {text(sites, setSites, 'sites', 'updTargetSites')}
        {text(profile, setProfile, 'profile', 'updTargetProfile')}
        {text(canary, setCanary, 'canary', 'updCanary')}
        {text(percents, setPercents, 'percents', 'updPercents')}
        {text(success, setSuccess, 'successThreshold', 'updSuccessThreshold', 'decimal')}
        {text(error, setError, 'errorThreshold', 'updErrorThreshold', 'decimal')}
        {text(minFinished, setMinFinished, 'minFinished', 'updMinFinished', 'numeric')}
        <label>
          {t('updOnError')}
          <select name="onError" value={onError} onChange={(e) => setOnError(e.currentTarget.value === 'abort' ? 'abort' : 'pause')}>
            <option value="pause">{t('updOnError_pause')}</option>
            <option value="abort">{t('updOnError_abort')}</option>
          </select>
        </label>
        {text(maxInFlight, setMaxInFlight, 'maxInFlight', 'updMaxInFlight', 'numeric')}
        {text(hours, setHours, 'excludedHours', 'updExcludedHours')}
        {text(margin, setMargin, 'broadcastMargin', 'updBroadcastMargin', 'numeric')}
      </div>
      <div class="row">
        <button type="button" class="secondary" data-testid="dry-run" disabled={busy || !chosenRelease} onClick={() => send('dry')}>
          {t('updDryRun')}
        </button>
        <button type="submit" data-testid="create-rollout" disabled={busy || !chosenRelease}>
          {t('updCreateRollout')}
        </button>
      </div>
      {problem && (
        <p class="error" data-testid="rollout-problem">
          {problem}
        </p>
      )}
      {dry && <DryRunView dry={dry} nameOf={nameOf} />}
    </form>
  );
}

function DryRunView(props: { dry: RolloutDryRun; nameOf: (key: string) => string }) {
  const { dry } = props;
  return (
    <div data-testid="dry-run-result">
      <h3>{t('updDryRunResult')}</h3>
      <p data-testid="dry-run-summary">{t('updDryRunSummary', { included: dry.included.length, excluded: dry.excluded.length, offline: dry.offline })}</p>
      <ul class="upd-waves">
        {dry.waves.map((w) => (
          <li>{t('updWaveSize', { name: w.name, n: w.size })}</li>
        ))}
      </ul>
      <h4>{t('updIncluded')}</h4>
      <div class="scroll">
        <table class="wide" data-testid="dry-included">
          <thead>
            <tr>
              <th>{t('site')}</th>
              <th>{t('area')}</th>
              <th>{t('updWave')}</th>
              <th>{t('updOnline')}</th>
              <th>{t('updFromVersion')}</th>
            </tr>
          </thead>
          <tbody>
            {dry.included.map((s) => (
              <tr data-site={s.siteId}>
                <td>{s.name}</td>
                <td>{props.nameOf(s.areaKey)}</td>
                <td>{s.wave === null ? t('updNotInWave') : (dry.waves[s.wave]?.name ?? s.wave + 1)}</td>
                <td>{s.online ? t('updOnlineYes') : t('updOnlineNo')}</td>
                <td>{s.fromVersion ?? t('updVersionUnknown')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h4>{t('updExcluded')}</h4>
      <div class="scroll">
        <table data-testid="dry-excluded">
          <thead>
            <tr>
              <th>{t('site')}</th>
              <th>{t('area')}</th>
              <th>{t('updWhy')}</th>
            </tr>
          </thead>
          <tbody>
            {dry.excluded.map((s) => (
              <tr data-site={s.siteId} data-why={s.why}>
                <td>{s.name}</td>
                <td>{props.nameOf(s.areaKey)}</td>
                <td>{wordCode('rolloutExcl_', s.why)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
