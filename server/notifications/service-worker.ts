/**
 * The console's service worker for Web Push (served by routes.ts at
 * /api/notifications/sw.js, `Service-Worker-Allowed: /` so the console may
 * register it for its whole origin): it shows a push as a system
 * notification, Vietnamese first, and opens the alarm when tapped. The push
 * carries codes (push-sender.ts pushPayload); the words are the console's
 * own (api/words/alarm-words.ts), put into the script here, so the server
 * adds no prose of its own. It has no fetch handler: it never stands between
 * the console and the server.
 */
import { ALARM_KINDS, ALARM_SEVERITIES } from '../alarms/model.ts';
import { alarmCodeIn } from '../../api/words/alarm-words.ts';

function words(): Record<'kind' | 'severity' | 'title', Record<string, [string, string]>> {
  const pair = (group: 'kind' | 'severity', code: string): [string, string] => [alarmCodeIn('vi', group, code), alarmCodeIn('en', group, code)];
  return {
    kind: Object.fromEntries(ALARM_KINDS.map((k) => [k, pair('kind', k)])),
    severity: Object.fromEntries(ALARM_SEVERITIES.map((s) => [s, pair('severity', s)])),
    title: { alarm: ['Cảnh báo kỹ thuật', 'Technical alarm'] },
  };
}

let cached: string | undefined;

export function serviceWorkerScript(): string {
  cached ??= `// loanet: Web Push for technicians' alarms (server/notifications/service-worker.ts).
'use strict';
const WORDS = ${JSON.stringify(words())};
const pair = (group, code) => WORDS[group][code] || [String(code), String(code)];
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));
self.addEventListener('push', (event) => {
  let d = {};
  try {
    d = event.data ? event.data.json() : {};
  } catch (e) {
    d = {};
  }
  const kind = pair('kind', d.kind);
  const severity = pair('severity', d.severity);
  const title = WORDS.title.alarm[0] + ' — ' + severity[0] + ': ' + kind[0];
  const body = (d.siteId || '') + '\\n' + WORDS.title.alarm[1] + ' — ' + severity[1] + ': ' + kind[1];
  event.waitUntil(
    self.registration.showNotification(title, {
      body,
      lang: 'vi',
      // One notification per alarm: an escalation or a worse severity replaces it, and rings again.
      tag: 'alarm-' + (d.alarmId || ''),
      renotify: true,
      requireInteraction: d.severity === 'critical' || d.severity === 'major',
      data: { url: '/alarms/' + encodeURIComponent(d.alarmId || ''), notificationId: d.id },
    }),
  );
});
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || '/';
  event.waitUntil(
    self.clients.matchAll({ type: 'window', includeUncontrolled: true }).then((list) => {
      for (const c of list) if ('focus' in c) return c.navigate(url).then((w) => (w || c).focus());
      return self.clients.openWindow(url);
    }),
  );
});
`;
  return cached;
}
