/**
 * The bell in the header: how many of the person's notifications are unread
 * (counted up by `notification` events of the console's stream), the latest
 * ones, each opening its alarm and marked read, all marked read at once; and
 * Web Push on this device, turned on only when the person asks, saying first
 * what it is for.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, get } from '../api.ts';
import { formatTime, keyOf, t } from '../i18n.ts';
import { errorText } from '../hooks.ts';
import { onLive } from '../live-updates.ts';
import { navigate } from '../router.ts';
import { alarmCode, type NotificationList, type NotificationRecord, type UnreadCount } from '../alarms.ts';
import { disablePush, enablePush, type PushState, pushState } from '../push.ts';

const LATEST = 20;

function PushControl() {
  const [state, setState] = useState<PushState | undefined>(undefined);
  const [failed, setFailed] = useState('');
  useEffect(() => {
    pushState().then(setState, () => setState('unsupported'));
  }, []);
  if (!state) return null;
  const run = (fn: () => Promise<PushState>) =>
    fn().then(
      (s) => {
        setFailed('');
        setState(s);
      },
      // The browser's own refusal (no push service, …) is English prose: only the server's codes are worded here.
      (e: Error) => setFailed(e instanceof ApiError ? `${t('pushFailed')} ${errorText(e)}` : t('pushFailed')),
    );
  return (
    <div class="push" data-testid="push" data-state={state}>
      {state === 'off' && (
        <>
          <p class="muted">{t('pushWhy')}</p>
          <button type="button" onClick={() => run(enablePush)}>
            {t('pushEnable')}
          </button>
        </>
      )}
      {state === 'on' && (
        <p class="muted">
          {t('pushOn')}{' '}
          <button type="button" class="secondary" onClick={() => run(disablePush)}>
            {t('pushOff')}
          </button>
        </p>
      )}
      {state === 'denied' && <p class="muted">{t('pushDenied')}</p>}
      {state === 'unsupported' && <p class="muted">{t('pushUnsupported')}</p>}
      {failed && (
        <p class="error" role="alert">
          {failed}
        </p>
      )}
    </div>
  );
}

export function Bell() {
  const [unread, setUnread] = useState(0);
  const [items, setItems] = useState<NotificationRecord[]>([]);
  const [open, setOpen] = useState(false);
  const [error, setError] = useState('');

  /** Notifications the stream told of while the list was being read: the answer may predate them. */
  const arrived = useRef<Set<number> | null>(null);
  const load = () => {
    arrived.current = new Set();
    return get<NotificationList>(`/api/notifications?limit=${LATEST}`).then(
      (l) => {
        // The newest are in the answer: one told of meanwhile and newer than all of them was not counted yet.
        const newest = Math.max(0, ...l.notifications.map((n) => n.id));
        const later = [...(arrived.current ?? [])].filter((id) => id > newest).length;
        arrived.current = null;
        setUnread(l.unread + later);
        setItems((now) => [...now.filter((n) => n.id > newest), ...l.notifications].slice(0, LATEST));
        setError('');
      },
      (e: Error) => {
        arrived.current = null;
        setError(errorText(e));
      },
    );
  };
  useEffect(() => {
    void load();
    const off = onLive('notification', (n) => {
      setItems((l) => [n, ...l.filter((x) => x.id !== n.id)].slice(0, LATEST));
      if (n.readAt !== null) return;
      setUnread((u) => u + 1);
      arrived.current?.add(n.id);
    });
    // A stream that dropped and came back may have missed some: count again.
    const offStatus = onLive('status', (on) => on && void load());
    return () => {
      off();
      offStatus();
    };
  }, []);

  const markRead = (ids?: number[]) =>
    api<UnreadCount>('POST', '/api/notifications/read', ids ? { ids } : {}).then(
      (r) => {
        setUnread(r.unread);
        const now = Date.now();
        setItems((l) => l.map((n) => (!ids || ids.includes(n.id) ? { ...n, readAt: n.readAt ?? now } : n)));
      },
      (e: Error) => setError(errorText(e)),
    );

  const label = t('bellUnread', { n: unread });
  return (
    <span class="bell">
      <button type="button" data-testid="bell" aria-expanded={open} aria-label={label} title={label} onClick={() => setOpen(!open)}>
        {/* Drawn, not an emoji: a phone without an emoji font would show a box. */}
        <svg class="bell-icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
          <path d="M12 2a6 6 0 0 0-6 6v4.5L4 16v1h16v-1l-2-3.5V8a6 6 0 0 0-6-6zm-2.5 16a2.5 2.5 0 0 0 5 0z" fill="currentColor" />
        </svg>
        <span class={`bell-count ${unread > 0 ? 'on' : ''}`} data-testid="bell-count" data-unread={unread}>
          {unread}
        </span>
      </button>
      {open && (
        <div class="bell-panel card" data-testid="bell-panel">
          <div class="row">
            <strong>{t('bell')}</strong>
            {unread > 0 && (
              <button type="button" class="secondary" data-testid="bell-mark-all" onClick={() => void markRead()}>
                {t('bellMarkAll')}
              </button>
            )}
          </div>
          {error && <p class="error">{error}</p>}
          {items.length === 0 && <p class="muted">{t('bellNone')}</p>}
          <ul>
            {items.map((n) => {
              const cause = keyOf('bellCause_', n.cause);
              return (
                <li class={n.readAt === null ? 'unread' : ''} data-notification={n.id} data-read={n.readAt === null ? 'no' : 'yes'}>
                  <a
                    href={`/alarms/${encodeURIComponent(n.alarmId)}`}
                    onClick={(e) => {
                      e.preventDefault();
                      if (n.readAt === null) void markRead([n.id]);
                      setOpen(false);
                      navigate(`/alarms/${encodeURIComponent(n.alarmId)}`);
                    }}
                  >
                    <strong>
                      {alarmCode('severity', n.severity)}: {alarmCode('kind', n.kind)}
                    </strong>{' '}
                    · {n.siteName ?? n.siteId}
                  </a>
                  <div class="muted">
                    {formatTime(n.createdAt)} · {cause ? t(cause) : n.cause}
                  </div>
                </li>
              );
            })}
          </ul>
          <PushControl />
        </div>
      )}
    </span>
  );
}
