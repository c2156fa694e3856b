/** A red line on every page while an alert (not an exercise) is in force in the user's view, linking to its tracker. */
import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.ts';
import { t } from '../i18n.ts';
import { onLive } from '../live-updates.ts';

interface Active {
  id: string;
  title: string;
  test: boolean;
}

/** Only a fallback for a dropped stream: alert changes are pushed (GET /api/stream, `alert` events). */
const POLL_MS = 30_000;

/** `path`: asked again on every page change, and whenever the stream says an alert changed. */
export function AlertBanner(props: { path: string }) {
  const [active, setActive] = useState<Active[]>([]);
  useEffect(() => {
    let timer = 0;
    let stopped = false;
    const load = (): void => {
      get<{ alerts: Active[] }>('/api/alerts?state=active&limit=5')
        .then((r) => !stopped && setActive(r.alerts), () => !stopped && setActive([]))
        .finally(() => {
          if (!stopped) timer = window.setTimeout(load, POLL_MS);
        });
    };
    load();
    // Only start, cancel, expiry and update change what the banner shows; delivery progress does not.
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
  if (active.length === 0) return null;
  return (
    <div class="alert-banner" role="alert" data-testid="alert-banner">
      {active.map((a) => (
        <a href={`/emergency/${encodeURIComponent(a.id)}`}>
          ⚠ {a.test ? t('isTest') : t('alertInForce')}: {a.title}
        </a>
      ))}
    </div>
  );
}
