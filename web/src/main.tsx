/** The operator console: login, then the pages the user's role allows. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './styles.css';
import { api, ApiError, setCsrfToken, whenUnauthenticated } from './api.ts';
import { lang, setLang, t, type Lang, type StringKey } from './i18n.ts';
import { interceptLinks, navigate, useLocation } from './router.ts';
import { onLive, startLiveUpdates, stopLiveUpdates, isLive } from './live-updates.ts';
import type { Me } from '../../api/index.ts';
import { LoginPage } from './pages/login.tsx';
import { OverviewPage } from './pages/overview.tsx';
import { SitesPage } from './pages/sites.tsx';
import { SitePage } from './pages/site.tsx';
import { lazyPage } from './lazy.tsx';
import { AlertBanner } from './components/alert-banner.tsx';
import { DiskBanner } from './components/disk-banner.tsx';
import { Bell } from './components/bell.tsx';
import { startPush } from './push.ts';

const AccountPage = lazyPage(() => import('./pages/account.tsx').then((m) => m.AccountPage));
const AuditPage = lazyPage(() => import('./pages/audit.tsx').then((m) => m.AuditPage));
const SchedulePage = lazyPage(() => import('./pages/schedule.tsx').then((m) => m.SchedulePage));
const LanguagesPage = lazyPage(() => import('./pages/languages.tsx').then((m) => m.LanguagesPage));
const EmergencyPage = lazyPage(() => import('./pages/emergency.tsx').then((m) => m.EmergencyPage));
const AlertTrackerPage = lazyPage(() => import('./pages/emergency.tsx').then((m) => m.AlertTrackerPage));
const LivePage = lazyPage(() => import('./pages/live.tsx').then((m) => m.LivePage));
const UsersPage = lazyPage(() => import('./pages/users.tsx').then((m) => m.UsersPage));
const UpdatesPage = lazyPage(() => import('./pages/updates.tsx').then((m) => m.UpdatesPage));
const RolloutPage = lazyPage(() => import('./pages/rollout.tsx').then((m) => m.RolloutPage));
const AlarmsPage = lazyPage(() => import('./pages/alarms.tsx').then((m) => m.AlarmsPage));
const AlarmPage = lazyPage(() => import('./pages/alarms.tsx').then((m) => m.AlarmPage));
const WorkOrdersPage = lazyPage(() => import('./pages/work-orders.tsx').then((m) => m.WorkOrdersPage));
const WorkOrderPage = lazyPage(() => import('./pages/work-orders.tsx').then((m) => m.WorkOrderPage));
const NotificationRulesPage = lazyPage(() => import('./pages/notification-rules.tsx').then((m) => m.NotificationRulesPage));
const ReportsPage = lazyPage(() => import('./pages/reports.tsx').then((m) => m.ReportsPage));

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [, setLangState] = useState<Lang>(lang());
  const [live, setLive] = useState(isLive());
  const loc = useLocation();

  useEffect(() => {
    document.documentElement.lang = lang();
    whenUnauthenticated(() => {
      stopLiveUpdates();
      setMe(null);
    });
    api<Me>('GET', '/api/auth/me').then(
      (m) => signedIn(m),
      (e: unknown) => (e instanceof ApiError && e.status === 401 ? setMe(null) : setMe(null)),
    );
    return onLive('status', setLive);
  }, []);

  const signedIn = (m: Me) => {
    if (m.csrfToken) setCsrfToken(m.csrfToken);
    setMe(m);
    startLiveUpdates();
    // The service worker (Web Push, an installable console); a subscription this browser has, stored for this person.
    startPush().catch(() => {});
  };

  const switchLang = (l: Lang) => {
    setLang(l);
    setLangState(l);
  };

  const langSwitch = (
    // biome-ignore lint/a11y/useSemanticElements: a fieldset would break the header's one line; role=group names the two buttons as one control
    <span class="lang" role="group" aria-label={t('language')}>
      {(['vi', 'en'] as const).map((l) => (
        <button type="button" class={lang() === l ? '' : 'secondary'} aria-pressed={lang() === l} data-lang={l} onClick={() => switchLang(l)}>
          {l === 'vi' ? 'Tiếng Việt' : 'English'}
        </button>
      ))}
    </span>
  );

  if (me === undefined) return <main class="muted">{t('loading')}</main>;
  if (me === null) return <LoginPage langSwitch={langSwitch} onLogin={signedIn} />;

  const logout = async () => {
    await api('POST', '/api/auth/logout').catch(() => {});
    stopLiveUpdates();
    setMe(null);
    navigate('/', true);
  };

  // Software updates are for those who upload releases or roll them out (technicians, admins).
  const canUpdate = me.permissions.includes('release.write') || me.permissions.includes('rollout.write');
  const nav: Array<[string, StringKey, boolean]> = [
    ['/', 'overview', true],
    ['/sites', 'sites', true],
    ['/alarms', 'alarms', true],
    ['/work-orders', 'workOrders', true],
    ['/schedule', 'schedule', true],
    ['/emergency', 'emergency', true],
    ['/live', 'live', true],
    ['/reports', 'reports', true],
    ['/updates', 'updates', canUpdate],
    ['/account', 'account', true],
    ['/users', 'users', me.permissions.includes('users.manage')],
    // Rules decide whom the server wakes: the users' admins write them (server/notifications/routes.ts).
    ['/notification-rules', 'notificationRules', me.permissions.includes('users.manage')],
    ['/audit', 'audit', me.permissions.includes('audit.read')],
  ];
  const path = loc.path;
  const active = (href: string) => (href === '/' ? path === '/' : path.startsWith(href));

  let page: preact.JSX.Element;
  const site = /^\/sites\/([^/]+)$/.exec(path);
  const alert = /^\/emergency\/([^/]+)$/.exec(path);
  const rollout = /^\/updates\/rollouts\/([^/]+)$/.exec(path);
  const alarm = /^\/alarms\/([^/]+)$/.exec(path);
  const workOrder = /^\/work-orders\/([0-9]+)$/.exec(path);
  if (path === '/') page = <OverviewPage me={me} query={loc.query} />;
  else if (path === '/sites') page = <SitesPage me={me} query={loc.query} />;
  else if (site) page = <SitePage me={me} id={decodeURIComponent(site[1]!)} />;
  else if (path === '/schedule') page = <SchedulePage me={me} query={loc.query} />;
  else if (path === '/schedule/languages') page = <LanguagesPage me={me} query={loc.query} />;
  else if (path === '/emergency') page = <EmergencyPage me={me} />;
  else if (alert) page = <AlertTrackerPage me={me} id={decodeURIComponent(alert[1]!)} />;
  else if (path === '/alarms') page = <AlarmsPage me={me} query={loc.query} />;
  else if (alarm) page = <AlarmPage me={me} id={decodeURIComponent(alarm[1]!)} />;
  else if (path === '/work-orders') page = <WorkOrdersPage me={me} query={loc.query} />;
  else if (workOrder) page = <WorkOrderPage me={me} id={Number(workOrder[1])} />;
  else if (path === '/notification-rules') page = me.permissions.includes('users.manage') ? <NotificationRulesPage me={me} /> : <p class="error">{t('notAllowed')}</p>;
  else if (path === '/reports') page = <ReportsPage me={me} />;
  else if (path === '/live') page = <LivePage me={me} />;
  else if (path === '/updates') page = canUpdate ? <UpdatesPage me={me} query={loc.query} /> : <p class="error">{t('notAllowed')}</p>;
  else if (rollout) page = canUpdate ? <RolloutPage me={me} id={decodeURIComponent(rollout[1]!)} /> : <p class="error">{t('notAllowed')}</p>;
  else if (path === '/account') page = <AccountPage me={me} />;
  else if (path === '/users') page = me.permissions.includes('users.manage') ? <UsersPage /> : <p class="error">{t('notAllowed')}</p>;
  else if (path === '/audit') page = me.permissions.includes('audit.read') ? <AuditPage /> : <p class="error">{t('notAllowed')}</p>;
  else page = <p>{t('notFound')}</p>;

  return (
    // biome-ignore lint/a11y/noStaticElementInteractions lint/a11y/useKeyWithClickEvents: delegation of the links' own clicks (Enter on a link fires click too); the div itself is not a control
    <div onClick={interceptLinks}>
      <header class="top">
        <span class="brand">loanet · {t('appName')}</span>
        <nav>
          {nav
            .filter(([, , show]) => show)
            .map(([href, key]) => (
              <a href={href} class={active(href) ? 'active' : ''}>
                {t(key)}
              </a>
            ))}
        </nav>
        <span class="me">
          <span class={`live-dot ${live ? 'on' : ''}`} title={t('liveUpdates')} data-live={live ? 'on' : 'off'} />
          <span data-testid="whoami">
            {me.username} · {t(`role_${me.role}`)} · {me.areaName ?? t('whole')}
          </span>
          <Bell />
          {langSwitch}
          <button type="button" onClick={logout}>
            {t('logout')}
          </button>
        </span>
      </header>
      <AlertBanner path={path} />
      {me.role === 'admin' && <DiskBanner path={path} />}
      <main>{page}</main>
    </div>
  );
}

render(<App />, document.getElementById('app')!);
