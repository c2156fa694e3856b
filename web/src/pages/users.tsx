/** Users for admins: who may do what, where (role and area subtree), and making new ones. */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { formatTime, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { AreaView } from '../types.ts';

interface UserView {
  username: string;
  role: string;
  area: string | null;
  areaName: string | null;
  createdAt: number;
  disabledAt: number | null;
}

const ROLES = ['admin', 'operator', 'technician', 'emergency', 'viewer'] as const;

export function UsersPage() {
  const users = useApi<{ users: UserView[] }>('/api/users');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const [form, setForm] = useState({ username: '', password: '', role: 'operator', area: '' });
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const field = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });

  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api('POST', '/api/users', { username: form.username, password: form.password, role: form.role, ...(form.area ? { area: form.area } : {}) });
      setMsg({ ok: true, text: t('saved') });
      setForm({ ...form, username: '', password: '' });
      users.reload();
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? err.message : String(err) });
    }
  };

  return (
    <section>
      <h1>{t('users')}</h1>
      <form class="card row" onSubmit={create} data-testid="user-form">
        <label>
          {t('username')}
          <input name="newUsername" value={form.username} onInput={field('username')} pattern="[a-z0-9._\-]{3,40}" required />
        </label>
        <label>
          {t('password')}
          <input name="newUserPassword" type="password" autocomplete="new-password" minLength={8} value={form.password} onInput={field('password')} required />
        </label>
        <label>
          {t('role')}
          <select name="role" value={form.role} onChange={field('role')}>
            {ROLES.map((r) => (
              <option value={r}>{t(`role_${r}`)}</option>
            ))}
          </select>
        </label>
        <label>
          {t('area')}
          <select name="userArea" value={form.area} onChange={field('area')}>
            <option value="">{t('whole')}</option>
            {(communes.data?.areas ?? []).map((a) => (
              <option value={a.key}>{a.name}</option>
            ))}
          </select>
        </label>
        <button type="submit">{t('create')}</button>
        {msg && <span class={msg.ok ? 'ok' : 'error'}>{msg.text}</span>}
      </form>
      <div class="scroll">
        <table data-testid="users">
          <thead>
            <tr>
              <th>{t('username')}</th>
              <th>{t('role')}</th>
              <th>{t('area')}</th>
              <th>{t('created')}</th>
            </tr>
          </thead>
          <tbody>
            {(users.data?.users ?? []).map((u) => (
              <tr>
                <td>{u.username}</td>
                <td>{t(`role_${u.role as (typeof ROLES)[number]}`)}</td>
                <td>{u.areaName ?? t('whole')}</td>
                <td>{formatTime(u.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
