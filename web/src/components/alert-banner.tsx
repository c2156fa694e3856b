/**
 * The alerts in force where the user is, on every page: one line at the
 * bottom of the screen, linking to the newest (a real alert before an
 * exercise), with the count of the others and a button that lists them all.
 *
 * Which alerts: GET /api/alerts answers only those whose targets cover the
 * user's area (an area or site of theirs, or an area above it: the province
 * for a commune); a user without an area (an admin, a provincial official)
 * sees every one. The console does not guess from names: the server decides
 * (server/auth/scope-policy.ts alertVisible).
 *
 * Never under the finger: the bar is an overlay (alert-banner.css), so its
 * arrival, its changes and its list never move the page's content.
 */
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { formatTime, t } from '../i18n.ts';
import { onLive } from '../live-updates.ts';
import type { AlertSummary } from '../../../api/index.ts';
import './alert-banner.css';

type Active = Pick<AlertSummary, 'id' | 'title' | 'test' | 'createdAt'>;

/** Only a fallback for a dropped stream: alert changes are pushed (GET /api/stream, `alert` events). */
const POLL_MS = 30_000;
/** More than any province has in force at once; the count says if there are more. */
const LIMIT = 100;

/** Real alerts first, then the newest: what the one line names. */
function ordered(list: Active[]): Active[] {
  return [...list].sort((a, b) => Number(a.test) - Number(b.test) || b.createdAt - a.createdAt);
}

function same(a: Active[], b: Active[]): boolean {
  return a.length === b.length && a.every((x, i) => x.id === b[i]!.id && x.title === b[i]!.title && x.test === b[i]!.test);
}

/** `path`: asked again on every page change, and whenever the stream says an alert changed. */
export function AlertBanner(props: { path: string }) {
  const [active, setActive] = useState<Active[]>([]);
  const [open, setOpen] = useState(false);
  useEffect(() => {
    let timer = 0;
    let stopped = false;
    // An unchanged answer keeps the same state, so nothing re-renders.
    const show = (list: Active[]) => setActive((cur) => (same(cur, list) ? cur : list));
    const load = (): void => {
      get<{ alerts: AlertSummary[] }>(`/api/alerts?state=active&limit=${LIMIT}`)
        .then(
          (r) => !stopped && show(ordered(r.alerts)),
          () => !stopped && show([]),
        )
        .finally(() => {
          if (!stopped) timer = window.setTimeout(load, POLL_MS);
        });
    };
    load();
    // Only start, cancel, expiry and update change what the bar shows; delivery progress does not.
    const off = onLive('alert', (e) => {
      if (e.kind === 'delivery' || stopped) return;
      clearTimeout(timer);
      load();
    });
    return () => {
      stopped = true;
      off();
      clearTimeout(timer);
    };
  }, [props.path]);
  useEffect(() => setOpen(false), [props.path]);
  // Room at the end of the page for its last lines to scroll above the bar (nothing above it moves).
  const shown = active.length > 0;
  useEffect(() => {
    document.body.classList.toggle('has-alert-bar', shown);
  }, [shown]);
  useEffect(() => () => document.body.classList.remove('has-alert-bar'), []);
  if (!shown) return null;
  const first = active[0]!;
  const n = active.length;
  const label = n === 1 ? (first.test ? t('isTest') : t('alertInForce')) : t('alertsInForceN', { n });
  const link = (a: Active) => `/emergency/${encodeURIComponent(a.id)}`;
  return (
    <div class="alert-banner alert-bar" role="alert" data-testid="alert-banner" data-count={n}>
      {open && n > 1 && (
        <ul data-testid="alert-banner-list">
          {active.map((a) => (
            <li>
              <a href={link(a)}>
                ⚠ {a.test ? `${t('isTest')}: ` : ''}
                {a.title}
              </a>
              <span class="when">{formatTime(a.createdAt)}</span>
            </li>
          ))}
        </ul>
      )}
      <div class="alert-line">
        <a href={link(first)} data-testid="alert-banner-line">
          ⚠ {label}: {first.title}
        </a>
        {n > 1 && (
          <button type="button" aria-expanded={open} data-testid="alert-banner-toggle" onClick={() => setOpen(!open)}>
            {open ? t('alertsHide') : t('alertsShowAll', { n })}
          </button>
        )}
      </div>
    </div>
  );
}
