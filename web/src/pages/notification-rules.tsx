/**
 * The notification rules (server/notifications: who is told of which
 * technical alarms, when, and whom next when nobody acknowledges), for the
 * admins who manage users (the routes' `users.manage`): list, create, edit,
 * delete. An admin bound to an area sees and writes the rules of its
 * subtree only; the server refuses the rest, and the refusal is shown in
 * the user's language (strings/errors.ts). A rule keeps the province's
 * quiet hours unless it sets its own (or none: it wakes people at any hour).
 */
import { useState } from 'preact/hooks';
import { api } from '../api.ts';
import { t } from '../i18n.ts';
import { errorText, useApi } from '../hooks.ts';
import { alarmCode, KINDS, SEVERITIES } from '../alarms.ts';
import { TimeEntry } from '../components/date-entry.tsx';
import type { NotificationRuleInput, NotificationRuleList, NotificationRuleRecord } from '../../../api/notifications.ts';
import type { AreaView, Me, UserList } from '../../../api/index.ts';

type Step = NotificationRuleInput['steps'][number];
type Role = Step['roles'][number];
const ROLES: Role[] = ['technician', 'operator', 'admin', 'emergency', 'viewer'];

/** The form's state: minutes as typed, escalation '' for none. */
interface Draft {
  area: string;
  minSeverity: NotificationRuleInput['minSeverity'];
  kinds: string[];
  delayMin: string;
  escalateMin: string;
  steps: Step[];
  enabled: boolean;
  /** The rule's own quiet hours, "HH:mm" each; off: the province's. */
  quietOwn: boolean;
  quietFrom: string;
  quietTo: string;
}

const hhmm = (minute: number) => `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
const minuteOf = (v: string) => {
  const [h, m] = v.split(':').map(Number);
  return h! * 60 + m!;
};

const blank = (me: Me): Draft => ({
  area: me.area ?? '',
  minSeverity: 'major',
  kinds: [],
  delayMin: '5',
  escalateMin: '30',
  steps: [{ roles: ['technician'], userIds: [] }],
  enabled: true,
  quietOwn: false,
  quietFrom: '22:00',
  quietTo: '06:00',
});

const draftOf = (r: NotificationRuleRecord): Draft => ({
  area: r.area ?? '',
  minSeverity: r.minSeverity,
  kinds: r.kinds ?? [],
  delayMin: String(Math.round(r.delayS / 60)),
  escalateMin: r.escalateAfterS === null ? '' : String(Math.round(r.escalateAfterS / 60)),
  steps: r.steps,
  enabled: r.enabled,
  quietOwn: r.quietHours !== null,
  quietFrom: hhmm(r.quietHours?.startMinute ?? 22 * 60),
  quietTo: hhmm(r.quietHours?.endMinute ?? 6 * 60),
});

function inputOf(d: Draft): NotificationRuleInput {
  return {
    area: d.area === '' ? null : d.area,
    minSeverity: d.minSeverity,
    kinds: d.kinds.length === 0 ? null : (d.kinds as NonNullable<NotificationRuleInput['kinds']>),
    delayS: Math.round(Number(d.delayMin || '0') * 60),
    escalateAfterS: d.escalateMin.trim() === '' || d.steps.length < 2 ? null : Math.round(Number(d.escalateMin) * 60),
    steps: d.steps,
    enabled: d.enabled,
    quietHours: d.quietOwn && d.quietFrom && d.quietTo ? { startMinute: minuteOf(d.quietFrom), endMinute: minuteOf(d.quietTo) } : null,
  };
}

const toggle = <T,>(list: readonly T[], v: T, on: boolean): T[] => (on ? [...list.filter((x) => x !== v), v] : list.filter((x) => x !== v));

function RuleForm(props: {
  me: Me;
  initial: Draft;
  areas: AreaView[];
  users: UserList['users'];
  save: (input: NotificationRuleInput) => Promise<string | undefined>;
  cancel: () => void;
}) {
  const [d, setD] = useState<Draft>(props.initial);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (patch: Partial<Draft>) => setD({ ...d, ...patch });
  const setStep = (i: number, s: Step) => set({ steps: d.steps.map((x, j) => (j === i ? s : x)) });
  return (
    <form
      class="card rule-form"
      data-testid="rule-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (d.steps.some((s) => s.roles.length === 0 && s.userIds.length === 0)) return setError(t('rulesStepEmpty'));
        setBusy(true);
        props.save(inputOf(d)).then(
          (err) => {
            setBusy(false);
            setError(err ?? '');
          },
          () => setBusy(false),
        );
      }}
    >
      <div class="row">
        <label>
          {t('rulesArea')}
          <select name="area" value={d.area} onChange={(e) => set({ area: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">{t('rulesWholeNetwork')}</option>
            {props.areas.map((a) => (
              <option value={a.key}>{a.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t('rulesMinSeverity')}
          <select name="minSeverity" value={d.minSeverity} onChange={(e) => set({ minSeverity: (e.currentTarget as HTMLSelectElement).value as Draft['minSeverity'] })}>
            {SEVERITIES.map((s) => (
              <option value={s}>{alarmCode('severity', s)}</option>
            ))}
          </select>
        </label>
        <label>
          {t('rulesDelay')}
          <input
            name="delay"
            type="number"
            min="0"
            max="1440"
            inputMode="numeric"
            value={d.delayMin}
            onInput={(e) => set({ delayMin: (e.currentTarget as HTMLInputElement).value })}
          />
        </label>
        <label>
          <input type="checkbox" name="enabled" checked={d.enabled} onChange={(e) => set({ enabled: (e.currentTarget as HTMLInputElement).checked })} /> {t('rulesEnabled')}
        </label>
      </div>
      <fieldset>
        <legend>
          {t('rulesKinds')} <span class="muted">({d.kinds.length === 0 ? t('rulesAllKinds') : d.kinds.length})</span>
        </legend>
        <div class="row">
          {KINDS.map((k) => (
            <label>
              <input
                type="checkbox"
                name="kind"
                value={k}
                checked={d.kinds.includes(k)}
                onChange={(e) => set({ kinds: toggle(d.kinds, k, (e.currentTarget as HTMLInputElement).checked) })}
              />{' '}
              {alarmCode('kind', k)}
            </label>
          ))}
        </div>
      </fieldset>
      {d.steps.map((s, i) => (
        <fieldset data-testid="rule-step">
          <legend>{i === 0 ? t('rulesStepFirst') : t('rulesStepNext')}</legend>
          <div class="row">
            <span class="muted">{t('rulesRoles')}:</span>
            {ROLES.map((r) => (
              <label>
                <input
                  type="checkbox"
                  name={`step${i}-role`}
                  value={r}
                  checked={s.roles.includes(r)}
                  onChange={(e) => setStep(i, { ...s, roles: toggle(s.roles, r, (e.currentTarget as HTMLInputElement).checked) })}
                />{' '}
                {t(`role_${r}`)}
              </label>
            ))}
          </div>
          {props.users.length > 0 && (
            <div class="row">
              <span class="muted">{t('rulesUsers')}:</span>
              {props.users.map((u) => (
                <label>
                  <input
                    type="checkbox"
                    name={`step${i}-user`}
                    value={String(u.id)}
                    checked={s.userIds.includes(u.id)}
                    onChange={(e) => setStep(i, { ...s, userIds: toggle(s.userIds, u.id, (e.currentTarget as HTMLInputElement).checked) })}
                  />{' '}
                  {u.username}
                </label>
              ))}
            </div>
          )}
          {i > 0 && (
            <button type="button" class="secondary" onClick={() => set({ steps: d.steps.filter((_, j) => j !== i) })}>
              {t('rulesRemoveStep')}
            </button>
          )}
        </fieldset>
      ))}
      <div class="row">
        {d.steps.length < 5 && (
          <button type="button" class="secondary" data-testid="rule-add-step" onClick={() => set({ steps: [...d.steps, { roles: ['admin'], userIds: [] }] })}>
            {t('rulesAddStep')}
          </button>
        )}
        {d.steps.length > 1 && (
          <label>
            {t('rulesEscalateAfter')}
            <input
              name="escalate"
              type="number"
              min="1"
              max="10080"
              inputMode="numeric"
              value={d.escalateMin}
              onInput={(e) => set({ escalateMin: (e.currentTarget as HTMLInputElement).value })}
            />
          </label>
        )}
      </div>
      <fieldset>
        <legend>
          <label>
            <input type="checkbox" name="quietOwn" checked={d.quietOwn} onChange={(e) => set({ quietOwn: (e.currentTarget as HTMLInputElement).checked })} /> {t('rulesOwnQuiet')}
          </label>
        </legend>
        {d.quietOwn && (
          <div class="row">
            <label for="rule-quiet-from">{t('rulesQuietFrom')}</label>
            <TimeEntry id="rule-quiet-from" name="quietFrom" value={d.quietFrom} onChange={(v) => set({ quietFrom: v })} required />
            <label for="rule-quiet-to">{t('rulesQuietTo')}</label>
            <TimeEntry id="rule-quiet-to" name="quietTo" value={d.quietTo} onChange={(v) => set({ quietTo: v })} required />
            <span class="muted">{t('rulesQuietNoneHint')}</span>
          </div>
        )}
      </fieldset>
      <div class="row">
        <button type="submit" disabled={busy}>
          {t('rulesSave')}
        </button>
        <button type="button" class="secondary" onClick={props.cancel}>
          {t('rulesCancelEdit')}
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

function ruleSummary(r: NotificationRuleRecord, areaName: (key: string | null) => string): string {
  const base = t('rulesSummary', { area: areaName(r.area), severity: alarmCode('severity', r.minSeverity), delay: Math.round(r.delayS / 60) });
  const kinds = r.kinds ? ` · ${r.kinds.map((k) => alarmCode('kind', k)).join(', ')}` : '';
  const esc = r.escalateAfterS !== null && r.steps.length > 1 ? ` · ${t('rulesEscalation', { n: Math.round(r.escalateAfterS / 60) })}` : '';
  const q = r.quietHours;
  const quiet = q === null ? '' : ` · ${q.startMinute === q.endMinute ? t('rulesQuietNone') : t('rulesQuietOwn', { from: hhmm(q.startMinute), to: hhmm(q.endMinute) })}`;
  return base + kinds + esc + quiet;
}

export function NotificationRulesPage({ me }: { me: Me }) {
  const rules = useApi<NotificationRuleList>('/api/notification-rules');
  const provinces = useApi<{ areas: AreaView[] }>('/api/areas?level=province');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const users = useApi<UserList>('/api/users');
  const [editing, setEditing] = useState<number | 'new' | null>(null);
  const [deleting, setDeleting] = useState<number | null>(null);
  const [notice, setNotice] = useState('');
  const [error, setError] = useState('');
  const areas = [...(provinces.data?.areas ?? []), ...(communes.data?.areas ?? [])];
  const areaName = (key: string | null) => (key === null ? t('rulesWholeNetwork') : (areas.find((a) => a.key === key)?.name ?? key));
  const enabledUsers = (users.data?.users ?? []).filter((u) => u.disabledAt === null);
  const save = (id: number | null) => async (input: NotificationRuleInput) => {
    try {
      await api(id === null ? 'POST' : 'PUT', id === null ? '/api/notification-rules' : `/api/notification-rules/${id}`, input);
      setEditing(null);
      setNotice(t('rulesSaved'));
      rules.reload();
      return undefined;
    } catch (e) {
      return errorText(e as Error);
    }
  };
  const remove = async (id: number) => {
    try {
      await api('DELETE', `/api/notification-rules/${id}`);
      setDeleting(null);
      setNotice(t('rulesDeleted'));
      setError('');
      rules.reload();
    } catch (e) {
      setError(errorText(e as Error));
    }
  };
  const form = (id: number | null, initial: Draft) => <RuleForm me={me} initial={initial} areas={areas} users={enabledUsers} save={save(id)} cancel={() => setEditing(null)} />;
  return (
    <section class="notification-rules">
      <h1 data-testid="rules-title">{t('rulesTitle')}</h1>
      <p class="muted">{t('rulesHint')}</p>
      <p class="muted" data-testid="rules-quiet-hours">
        {t('rulesQuietHours')}
      </p>
      {rules.error && <p class="error">{rules.error}</p>}
      {notice && (
        <p class="muted" data-testid="rules-notice">
          {notice}
        </p>
      )}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {editing !== 'new' && (
        <p>
          <button type="button" data-testid="rule-new" onClick={() => (setNotice(''), setEditing('new'))}>
            {t('rulesNew')}
          </button>
        </p>
      )}
      {editing === 'new' && form(null, blank(me))}
      {rules.data && rules.data.length === 0 && <p class="muted">{t('rulesNone')}</p>}
      <ul class="alarm-list" data-testid="rules">
        {(rules.data ?? []).map((r) => (
          <li class="alarm-item" data-rule={r.id} data-enabled={r.enabled ? 'yes' : 'no'}>
            {editing === r.id ? (
              form(r.id, draftOf(r))
            ) : (
              <>
                <div data-testid="rule-summary">
                  <strong>{r.enabled ? t('rulesEnabled') : t('rulesDisabled')}</strong> · {ruleSummary(r, areaName)}
                </div>
                <ol class="muted">
                  {r.steps.map((s) => (
                    <li>{[...s.roles.map((x) => t(`role_${x}`)), ...s.userIds.map((id) => enabledUsers.find((u) => u.id === id)?.username ?? `#${id}`)].join(', ')}</li>
                  ))}
                </ol>
                <div class="row alarm-actions">
                  <button type="button" class="secondary" data-testid="rule-edit" onClick={() => (setNotice(''), setEditing(r.id))}>
                    {t('rulesEdit')}
                  </button>
                  {deleting === r.id ? (
                    <>
                      <span>{t('rulesDeleteConfirm')}</span>
                      <button type="button" data-testid="rule-delete-confirm" onClick={() => void remove(r.id)}>
                        {t('rulesDelete')}
                      </button>
                      <button type="button" class="secondary" onClick={() => setDeleting(null)}>
                        {t('rulesCancelEdit')}
                      </button>
                    </>
                  ) : (
                    <button type="button" class="secondary" data-testid="rule-delete" onClick={() => setDeleting(r.id)}>
                      {t('rulesDelete')}
                    </button>
                  )}
                </div>
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
