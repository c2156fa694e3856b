/** The audit log for admins: who changed what, when, filtered by user, action and period. */
import { useState } from 'preact/hooks';
import { qs } from '../api.ts';
import { formatTime, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import { auditActionWords, detailLines } from '../site-words.ts';
import type { AuditList, AuditQuery } from '../../../api/index.ts';

/** A yyyy-mm-dd picked in the browser, as the start of that day in Asia/Ho_Chi_Minh (UTC+7, no DST). */
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
          <input name="action" placeholder="site.command" value={form.action} onInput={field('action')} />
        </label>
        <label>
          {t('from')}
          <input name="from" type="date" value={form.from} onInput={field('from')} />
        </label>
        <label>
          {t('to')}
          <input name="to" type="date" value={form.to} onInput={field('to')} />
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
                <td class="hide-sm muted" data-testid="audit-detail">
                  {e.detail
                    ? detailLines(e.detail as Record<string, unknown>).map((line) => (
                        <div>{line}</div>
                      ))
                    : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
