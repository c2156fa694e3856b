/**
 * CAP senders for admins (GET/POST/PATCH/DELETE /api/alerts/cap/senders): a
 * CAP document is accepted only from the accounts bound to its <sender>,
 * inside the sender's area. Accounts are usernames; "name#12" binds only the
 * user's API token 12 (a script). Senders seen before the binding existed are
 * listed with who posted them, to bind in one click.
 */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { errorText, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { AreaView, CapSender, UnregisteredSender } from '../../../api/index.ts';

const accountsText = (list: CapSender['accounts']) => list.map((a) => (a.tokenId !== null ? `${a.username}#${a.tokenId}` : a.username)).join(', ');
const parseAccounts = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const [username, token] = s.split('#');
      return token ? { username: username!, tokenId: Number(token) } : { username: username! };
    });

export function CapSenders() {
  const list = useApi<{ senders: CapSender[]; unregistered: UnregisteredSender[] }>('/api/alerts/cap/senders');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const [form, setForm] = useState({ sender: '', area: '', accounts: '' });
  const [edits, setEdits] = useState<Record<number, string>>({});
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);

  const run = async (what: () => Promise<unknown>, done: string) => {
    try {
      await what();
      setMsg({ ok: true, text: done });
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? errorText(err.code, err.details, err.message) : String(err) });
    }
    list.reload();
  };
  const register = (sender: string, area: string, accounts: string) =>
    run(() => api<CapSender>('POST', '/api/alerts/cap/senders', { sender, area: area || null, accounts: parseAccounts(accounts) }), `${sender}: ${t('saved')}`);

  return (
    <section data-testid="cap-senders">
      <h2>{t('capSenders')}</h2>
      <p class="muted">{t('capSendersHelp')}</p>
      <form
        class="card row"
        onSubmit={(e) => {
          e.preventDefault();
          void register(form.sender, form.area, form.accounts).then(() => setForm({ sender: '', area: form.area, accounts: '' }));
        }}
      >
        <label>
          {t('capSender')}
          <input name="capSender" value={form.sender} onInput={(e) => setForm({ ...form, sender: e.currentTarget.value })} maxLength={255} required />
        </label>
        <label>
          {t('area')}
          <select name="capSenderArea" value={form.area} onChange={(e) => setForm({ ...form, area: e.currentTarget.value })}>
            <option value="">{t('whole')}</option>
            {(communes.data?.areas ?? []).map((a) => (
              <option value={a.key}>{a.name}</option>
            ))}
          </select>
        </label>
        <label>
          {t('capAccounts')}
          <input name="capSenderAccounts" value={form.accounts} placeholder={t('capAccountsHint')} onInput={(e) => setForm({ ...form, accounts: e.currentTarget.value })} />
        </label>
        <button type="submit">{t('capRegister')}</button>
        {msg && <span class={msg.ok ? 'ok' : 'error'}>{msg.text}</span>}
      </form>
      <div class="scroll">
        <table>
          <thead>
            <tr>
              <th>{t('capSender')}</th>
              <th>{t('area')}</th>
              <th>{t('capAccounts')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(list.data?.senders ?? []).map((s) => (
              <tr data-sender={s.sender}>
                <td>{s.sender}</td>
                <td>{s.areaName ?? t('whole')}</td>
                <td>
                  <input
                    name="capRowAccounts"
                    aria-label={t('capAccounts')}
                    value={edits[s.id] ?? accountsText(s.accounts)}
                    onInput={(e) => setEdits({ ...edits, [s.id]: e.currentTarget.value })}
                  />
                </td>
                <td>
                  <button
                    type="button"
                    onClick={() =>
                      void run(
                        () => api<CapSender>('PATCH', `/api/alerts/cap/senders/${s.id}`, { accounts: parseAccounts(edits[s.id] ?? accountsText(s.accounts)) }),
                        `${s.sender}: ${t('saved')}`,
                      )
                    }
                  >
                    {t('save')}
                  </button>{' '}
                  <button
                    type="button"
                    class="secondary"
                    onClick={() => {
                      if (window.confirm(t('capConfirmRemove'))) void run(() => api('DELETE', `/api/alerts/cap/senders/${s.id}`), `${s.sender}: ${t('saved')}`);
                    }}
                  >
                    {t('capRemove')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {(list.data?.unregistered.length ?? 0) > 0 && (
        <div class="card">
          <h3>{t('capUnregistered')}</h3>
          <ul>
            {list.data!.unregistered.map((u) => (
              <li>
                {u.sender} — {u.messages} · {t('capPostedBy')} {u.postedBy.join(', ') || '—'}{' '}
                <button type="button" class="secondary" onClick={() => void register(u.sender, '', u.postedBy.join(', '))}>
                  {t('capRegister')}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
