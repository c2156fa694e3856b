/** The audit log for admins: who changed what, when, filtered by user, action and period. */
import { useState } from 'preact/hooks';
import { qs } from '../api.ts';
import { formatTime, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import { DayEntry } from '../components/date-entry.tsx';
import { auditActionWords, detailLines } from '../site-words.ts';
import { useLanguageNames } from '../language-names.ts';
import { vi as auditStrings } from '../strings/audit.ts';
import type { AreaView, AuditList, AuditQuery } from '../../../api/index.ts';

/** Every action the server records (no code has an underscore), and every command to a site, for the filter's suggestions. */
const AUDIT_ACTIONS = Object.keys(auditStrings)
  .filter((k) => k.startsWith('act_') && k !== 'act_site_command')
  .map((k) => k.slice(4).replace(/_/g, '.'))
  .concat('site.command.');

/** A yyyy-mm-dd (what the day fields give), as the start of that day in Asia/Ho_Chi_Minh (UTC+7, no DST). */
function dayStart(day: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  return Date.parse(`${day}T00:00:00+07:00`);
}

export function AuditPage() {
  const [form, setForm] = useState({ username: '', action: '', from: '', to: '' });
  const [applied, setApplied] = useState(form);
  const to = dayStart(applied.to);
  const query: AuditQuery = { username: applied.username, action: applied.action, from: dayStart(applied.from), to: to !== undefined ? to + 86_400_000 : undefined, limit: 500 };
  const log = useApi<AuditList>(`/api/audit${qs(query)}`);
  // Details name areas by their keys: the communes and the province by name.
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const provinces = useApi<{ areas: AreaView[] }>('/api/areas?level=province');
  const areaNames = new Map([...(provinces.data?.areas ?? []), ...(communes.data?.areas ?? [])].map((a) => [a.key, a.name]));
  const languages = useLanguageNames();
  const names = { area: (key: string) => areaNames.get(key), language: languages.name };
  const field = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });
  return (
    <section>
      <h1>{t('auditLog')}</h1>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied(form);
        }}
      >
        <label>
          {t('user')}
          <input name="username" value={form.username} onInput={field('username')} />
        </label>
        <label>
          {t('action')}
          {/* A prefix filters a group (site. for every site action): offered in words, the codes kept as the values. */}
          <input name="action" list="audit-actions" placeholder={t('actionHint')} value={form.action} onInput={field('action')} />
          <datalist id="audit-actions">
            {AUDIT_ACTIONS.map((a) => (
              <option value={a}>{auditActionWords(a)}</option>
            ))}
          </datalist>
        </label>
        <label htmlFor="audit-from">
          {t('from')}
          <DayEntry id="audit-from" name="from" value={form.from} onChange={(from) => setForm((f) => ({ ...f, from }))} />
        </label>
        <label htmlFor="audit-to">
          {t('to')}
          <DayEntry id="audit-to" name="to" value={form.to} onChange={(to) => setForm((f) => ({ ...f, to }))} />
        </label>
        <button type="submit">{t('filter')}</button>
      </form>
      {log.error && <p class="error">{log.error}</p>}
      <div class="scroll">
        <table data-testid="audit">
          <thead>
            <tr>
              <th>{t('time')}</th>
              <th>{t('user')}</th>
              <th>{t('action')}</th>
              <th>{t('target')}</th>
              <th class="hide-sm">{t('detail')}</th>
            </tr>
          </thead>
          <tbody>
            {(log.data?.entries ?? []).map((e) => (
              <tr>
                <td>{formatTime(e.at)}</td>
                <td>{e.username ?? '—'}</td>
                <td title={e.action}>{auditActionWords(e.action)}</td>
                <td>{e.target ?? ''}</td>
                <td class="hide-sm muted" data-testid="audit-detail" title={typeof e.detail?.detail === 'string' ? e.detail.detail : undefined}>
                  {e.detail ? detailLines(e.detail as Record<string, unknown>, 0, names).map((line) => <div>{line}</div>) : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
