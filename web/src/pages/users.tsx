/** Users for admins: who may do what, where (role and area subtree), making new ones, changing or disabling them (PATCH /api/users/:id). */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { errorText, formatTime, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { AreaView, Role, UserCreated, UserCreateRequest, UserList, UserPatchRequest, UserUnlocked, UserView } from '../../../api/index.ts';
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH, USERNAME_PATTERN } from '../../../api/username.ts';
import { CapSenders } from '../components/cap-senders.tsx';

// Every role of the contract (a Record, so one added or removed there fails the typecheck here), in the order offered.
const OFFERED: Record<Role, true> = { admin: true, operator: true, technician: true, emergency: true, viewer: true };
const ROLES = Object.keys(OFFERED) as Role[];
/** A role picked in a select (its options are ROLES; anything else reads as the least one). */
const asRole = (v: string): Role => ROLES.find((r) => r === v) ?? 'viewer';
/** The server's own username rule (api/username.ts), so the form asks exactly what the server accepts. */
const USERNAME_RE = new RegExp(USERNAME_PATTERN, 'v');

export function UsersPage() {
  const users = useApi<UserList>('/api/users');
  const communes = useApi<{ areas: AreaView[] }>('/api/areas?level=commune');
  const [form, setForm] = useState<{ username: string; password: string; role: Role; area: string }>({ username: '', password: '', role: 'operator', area: '' });
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const field = (k: 'username' | 'password' | 'area') => (e: Event) => setForm({ ...form, [k]: (e.currentTarget as HTMLInputElement).value });

  const create = async (e: Event) => {
    e.preventDefault();
    try {
      await api<UserCreated, UserCreateRequest>('POST', '/api/users', {
        username: form.username,
        password: form.password,
        role: form.role,
        ...(form.area ? { area: form.area } : {}),
      });
      setMsg({ ok: true, text: t('saved') });
      setForm({ ...form, username: '', password: '' });
      users.reload();
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? errorText(err.code, err.details, err.message) : String(err) });
    }
  };

  /** One change to one user (role, area or disabled), then the list again; the server's refusal (e.g. disabling yourself) is shown as is. */
  const change = async (u: UserView, body: UserPatchRequest) => {
    if (body.disabled === true && !window.confirm(t('confirmDisableUser'))) return;
    try {
      await api<UserView, UserPatchRequest>('PATCH', `/api/users/${u.id}`, body);
      setMsg({ ok: true, text: `${u.username}: ${t('saved')}` });
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? errorText(err.code, err.details, err.message) : String(err) });
    }
    users.reload();
  };

  /** Forget the user's failed logins (POST /api/users/:id/unlock), for someone locked out by their own typing. */
  const unlock = async (u: UserView) => {
    try {
      const r = await api<UserUnlocked>('POST', `/api/users/${u.id}/unlock`);
      setMsg({ ok: true, text: `${u.username}: ${t('failuresCleared', { n: r.forgottenFailures })}` });
    } catch (err) {
      setMsg({ ok: false, text: err instanceof ApiError ? errorText(err.code, err.details, err.message) : String(err) });
    }
  };

  return (
    <section>
      <h1>{t('users')}</h1>
      <form class="card row" onSubmit={create} data-testid="user-form">
        <label>
          {t('username')}
          <input
            name="newUsername"
            value={form.username}
            onInput={field('username')}
            pattern={USERNAME_PATTERN}
            maxLength={USERNAME_MAX_LENGTH}
            title={t('usernameRule', { min: USERNAME_MIN_LENGTH, max: USERNAME_MAX_LENGTH })}
            aria-describedby="username-rule"
            aria-invalid={form.username !== '' && !USERNAME_RE.test(form.username)}
            required
          />
          <small id="username-rule" data-testid="username-rule" class={form.username !== '' && !USERNAME_RE.test(form.username) ? 'error' : 'muted'}>
            {t('usernameRule', { min: USERNAME_MIN_LENGTH, max: USERNAME_MAX_LENGTH })}
          </small>
        </label>
        <label>
          {t('password')}
          <input name="newUserPassword" type="password" autocomplete="new-password" maxLength={200} value={form.password} onInput={field('password')} required />
        </label>
        <label>
          {t('role')}
          <select name="role" value={form.role} onChange={(e) => setForm({ ...form, role: asRole(e.currentTarget.value) })}>
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
              <th />
            </tr>
          </thead>
          <tbody>
            {(users.data?.users ?? []).map((u) => (
              <tr data-user={u.username} class={u.disabledAt !== null ? 'muted' : ''}>
                <td>
                  {u.username}
                  {u.disabledAt !== null ? ` · ${t('userDisabled')} ${formatTime(u.disabledAt)}` : ''}
                </td>
                <td>
                  <select name="userRole" aria-label={t('role')} value={u.role} onChange={(e) => void change(u, { role: asRole(e.currentTarget.value) })}>
                    {ROLES.map((r) => (
                      <option value={r}>{t(`role_${r}`)}</option>
                    ))}
                  </select>
                </td>
                <td>
                  <select
                    name="userRowArea"
                    aria-label={t('area')}
                    value={u.area ?? ''}
                    onChange={(e) => void change(u, { area: (e.currentTarget as HTMLSelectElement).value || null })}
                  >
                    <option value="">{t('whole')}</option>
                    {u.area !== null && !(communes.data?.areas ?? []).some((a) => a.key === u.area) && <option value={u.area}>{u.areaName ?? u.area}</option>}
                    {(communes.data?.areas ?? []).map((a) => (
                      <option value={a.key}>{a.name}</option>
                    ))}
                  </select>
                </td>
                <td>{formatTime(u.createdAt)}</td>
                <td>
                  <button type="button" name="toggleDisabled" onClick={() => void change(u, { disabled: u.disabledAt === null })}>
                    {u.disabledAt === null ? t('disableUser') : t('enableUser')}
                  </button>{' '}
                  <button type="button" name="unlockLogins" class="secondary" onClick={() => void unlock(u)}>
                    {t('clearFailures')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <CapSenders />
    </section>
  );
}
