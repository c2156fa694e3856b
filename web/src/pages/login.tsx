import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { errorText, t } from '../i18n.ts';
import type { CookieLogin, LoginRequest, Me } from '../../../api/index.ts';

export function LoginPage(props: { langSwitch: ComponentChildren; onLogin: (me: Me) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      // cookie: true — the session token goes in an HttpOnly cookie, never into this page's JavaScript.
      const r = await api<CookieLogin, LoginRequest>('POST', '/api/auth/login', { username, password, cookie: true });
      const me = await api<Me>('GET', '/api/auth/me');
      props.onLogin({ ...me, csrfToken: me.csrfToken ?? r.csrfToken });
    } catch (err) {
      setError(err instanceof ApiError ? (err.status === 401 ? t('loginFailed') : errorText(err.code, err.details, err.message)) : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main>
      <form class="card login" onSubmit={submit}>
        <h1>loanet · {t('appName')}</h1>
        <label>
          {t('username')}
          <input name="username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} required />
        </label>
        <label>
          {t('password')}
          <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
        </label>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <div class="row">
          <button type="submit" disabled={busy}>
            {t('login')}
          </button>
          {props.langSwitch}
        </div>
      </form>
    </main>
  );
}
