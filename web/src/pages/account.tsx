/** The user's own account: change password, API tokens for scripts and integrations. */
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api.ts';
import { errorText, formatTime, t } from '../i18n.ts';
import { useApi } from '../hooks.ts';
import type { ApiTokenCreated, ApiTokenList, ApiTokenRequest, Me, PasswordChange, PasswordChanged } from '../../../api/index.ts';

export function AccountPage(props: { me: Me }) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [keepTokens, setKeepTokens] = useState(false);
  const [pwMsg, setPwMsg] = useState<{ ok: boolean; text: string; revoked?: number } | null>(null);
  const tokens = useApi<ApiTokenList>('/api/auth/tokens');
  const [name, setName] = useState('');
  const [days, setDays] = useState('');
  const [fresh, setFresh] = useState('');
  const [tokErr, setTokErr] = useState('');

  const changePassword = async (e: Event) => {
    e.preventDefault();
    try {
      const r = await api<PasswordChanged, PasswordChange>('POST', '/api/auth/password', { currentPassword: current, newPassword: next, keepTokens });
      setPwMsg({ ok: true, text: t('saved'), revoked: r.revokedTokens });
      setCurrent('');
      setNext('');
      tokens.reload();
    } catch (err) {
      setPwMsg({ ok: false, text: err instanceof ApiError ? errorText(err.code, err.details, err.message) : String(err) });
    }
  };

  const createToken = async (e: Event) => {
    e.preventDefault();
    setTokErr('');
    try {
      const r = await api<ApiTokenCreated, ApiTokenRequest>('POST', '/api/auth/tokens', { name, ...(days ? { expiresInDays: Number(days) } : {}) });
      setFresh(r.token);
      setName('');
      tokens.reload();
    } catch (err) {
      setTokErr(err instanceof ApiError ? errorText(err.code, err.details, err.message) : String(err));
    }
  };

  const revoke = async (id: number) => {
    await api('DELETE', `/api/auth/tokens/${id}`).catch((err: Error) => setTokErr(err.message));
    tokens.reload();
  };

  return (
    <section>
      <h1>{t('account')}</h1>
      <p>
        {props.me.username} · {t('role')}: {t(`role_${props.me.role}`)} · {props.me.areaName ?? t('whole')}
      </p>
      <h2>{t('changePassword')}</h2>
      <form class="card row" onSubmit={changePassword}>
        <label>
          {t('currentPassword')}
          <input type="password" name="currentPassword" autocomplete="current-password" value={current} onInput={(e) => setCurrent(e.currentTarget.value)} required />
        </label>
        <label>
          {t('newPassword')}
          <input type="password" name="newPassword" autocomplete="new-password" maxLength={200} value={next} onInput={(e) => setNext(e.currentTarget.value)} required />
        </label>
        <label>
          <input type="checkbox" name="keepTokens" checked={keepTokens} onChange={(e) => setKeepTokens(e.currentTarget.checked)} /> {t('keepTokens')}
        </label>
        <button type="submit">{t('save')}</button>
        {pwMsg && (
          <span class={pwMsg.ok ? 'ok' : 'error'} role="status" data-testid="password-result">
            {pwMsg.text}
          </span>
        )}
        {pwMsg?.ok && pwMsg.revoked ? <span class="muted">{t('tokensRevokedN', { n: pwMsg.revoked })}</span> : null}
      </form>

      <h2>{t('apiTokens')}</h2>
      <form class="card row" onSubmit={createToken}>
        <label>
          {t('tokenName')}
          <input name="tokenName" value={name} maxLength={80} onInput={(e) => setName(e.currentTarget.value)} required />
        </label>
        <label>
          {t('expiresInDays')}
          <input
            name="expiresInDays"
            type="number"
            min={1}
            max={tokens.data?.maxDays ?? 365}
            placeholder={tokens.data ? String(tokens.data.defaultDays) : ''}
            value={days}
            onInput={(e) => setDays(e.currentTarget.value)}
          />
          {tokens.data && <small class="muted">{t('tokenDaysHint', { days: tokens.data.defaultDays, max: tokens.data.maxDays })}</small>}
        </label>
        <button type="submit">{t('create')}</button>
        {tokErr && <span class="error">{tokErr}</span>}
      </form>
      {fresh && (
        <p class="card">
          {t('newTokenOnce')} <code data-testid="new-token">{fresh}</code>
        </p>
      )}
      <div class="scroll">
        <table data-testid="tokens">
          <thead>
            <tr>
              <th>{t('tokenName')}</th>
              <th>{t('created')}</th>
              <th>{t('expires')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {(tokens.data?.tokens ?? []).map((k) => (
              <tr>
                <td>{k.name}</td>
                <td>{formatTime(k.createdAt)}</td>
                <td>{k.expiresAt ? formatTime(k.expiresAt) : '—'}</td>
                <td>
                  {k.revokedAt ? (
                    <span class="muted">{t('revoked')}</span>
                  ) : k.expiresAt !== null && k.expiresAt <= Date.now() ? (
                    <span class="muted">{t('expired')}</span>
                  ) : (
                    <button type="button" class="secondary" onClick={() => revoke(k.id)}>
                      {t('revoke')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
