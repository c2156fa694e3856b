/**
 * Web Push for the console: the service worker the server serves
 * (/api/notifications/sw.js, registered for the whole console so the console
 * installs as an app), and this browser's subscription, made only when the
 * person asks for it (the browser then asks its permission) and stored on
 * the server for the person signed in.
 */
import type { Static } from '@sinclair/typebox';
import type { PushSubscriptionInput } from '../../api/notifications.ts';
import { api, get } from './api.ts';
import type { VapidKey } from './alarms.ts';

export type PushState = 'unsupported' | 'denied' | 'off' | 'on';

const SW_URL = '/api/notifications/sw.js';

function supported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

function registration(): Promise<ServiceWorkerRegistration> {
  return navigator.serviceWorker.register(SW_URL, { scope: '/' });
}

/** The VAPID key (base64url) as the bytes PushManager.subscribe takes. */
function keyBytes(b64url: string): Uint8Array<ArrayBuffer> {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (b64url.length % 4)) % 4);
  const raw = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(raw.length));
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function store(sub: PushSubscription): Promise<void> {
  await api<null, Static<typeof PushSubscriptionInput>>('POST', '/api/notifications/push/subscriptions', sub.toJSON() as Static<typeof PushSubscriptionInput>);
}

/**
 * After signing in: the worker registered (an installable console), and a subscription this browser
 * already has stored again for the person now signed in (another person may have used it before).
 */
export async function startPush(): Promise<void> {
  if (!('serviceWorker' in navigator)) return;
  const reg = await registration();
  if (!supported() || Notification.permission !== 'granted') return;
  const sub = await reg.pushManager.getSubscription();
  if (sub) await store(sub);
}

export async function pushState(): Promise<PushState> {
  if (!supported()) return 'unsupported';
  if (Notification.permission === 'denied') return 'denied';
  if (Notification.permission !== 'granted') return 'off';
  const reg = await navigator.serviceWorker.getRegistration('/');
  return (await reg?.pushManager.getSubscription()) ? 'on' : 'off';
}

/** Asked by the person: the browser's permission, then a subscription with the server's key, stored. */
export async function enablePush(): Promise<PushState> {
  if (!supported()) return 'unsupported';
  const permission = await Notification.requestPermission();
  if (permission !== 'granted') return permission === 'denied' ? 'denied' : 'off';
  const reg = await registration();
  await navigator.serviceWorker.ready;
  const { publicKey } = await get<VapidKey>('/api/notifications/push/key');
  const sub = (await reg.pushManager.getSubscription()) ?? (await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) }));
  await store(sub);
  return 'on';
}

export async function disablePush(): Promise<PushState> {
  const reg = await navigator.serviceWorker.getRegistration('/');
  const sub = await reg?.pushManager.getSubscription();
  if (sub) {
    await api('DELETE', '/api/notifications/push/subscriptions', { endpoint: sub.endpoint });
    await sub.unsubscribe();
  }
  return 'off';
}
