/**
 * One EventSource (GET /api/stream) for the whole page; pages subscribe to
 * the events they draw. The browser reconnects by itself after a drop (4G).
 */
import type { AlarmEvent, AlertEvent, CommandEvent, ConditionEvent, LiveEvent, NotificationEvent, StreamEventMap, WorkOrderEvent } from '../../api/stream.ts';

export type { AlarmEvent, AlertEvent, ConditionEvent, NotificationEvent, WorkOrderEvent };

type Handlers = {
  condition: (e: ConditionEvent) => void;
  command: (e: CommandEvent) => void;
  alert: (e: AlertEvent) => void;
  live: (e: LiveEvent) => void;
  alarm: (e: AlarmEvent) => void;
  notification: (e: NotificationEvent) => void;
  work_order: (e: WorkOrderEvent) => void;
  status: (connected: boolean) => void;
};
type Kind = keyof Handlers;

const subs: { [K in Kind]: Set<Handlers[K]> } = {
  condition: new Set(),
  command: new Set(),
  alert: new Set(),
  live: new Set(),
  alarm: new Set(),
  notification: new Set(),
  work_order: new Set(),
  status: new Set(),
};
let source: EventSource | null = null;
let connected = false;

function setConnected(v: boolean) {
  connected = v;
  subs.status.forEach((f) => f(v));
}

/** The JSON of an event, typed by the contract the server writes it with (api/stream.ts). */
const eventData = <K extends keyof StreamEventMap>(_kind: K, e: Event): StreamEventMap[K] => JSON.parse((e as MessageEvent<string>).data) as StreamEventMap[K];

export function startLiveUpdates(): void {
  if (source) return;
  source = new EventSource('/api/stream');
  source.addEventListener('hello', () => setConnected(true));
  source.addEventListener('error', () => setConnected(false));
  source.addEventListener('condition', (e) => subs.condition.forEach((f) => f(eventData('condition', e))));
  source.addEventListener('alert', (e) => subs.alert.forEach((f) => f(eventData('alert', e))));
  source.addEventListener('command', (e) => subs.command.forEach((f) => f(eventData('command', e))));
  source.addEventListener('live', (e) => subs.live.forEach((f) => f(eventData('live', e))));
  source.addEventListener('alarm', (e) => subs.alarm.forEach((f) => f(eventData('alarm', e))));
  source.addEventListener('notification', (e) => subs.notification.forEach((f) => f(eventData('notification', e))));
  source.addEventListener('work_order', (e) => subs.work_order.forEach((f) => f(eventData('work_order', e))));
}

export function stopLiveUpdates(): void {
  source?.close();
  source = null;
  setConnected(false);
}

export function isLive(): boolean {
  return connected;
}

/** Subscribe; returns the unsubscribe (use as a useEffect cleanup). */
export function onLive<K extends Kind>(kind: K, fn: Handlers[K]): () => void {
  (subs[kind] as Set<Handlers[K]>).add(fn);
  return () => {
    (subs[kind] as Set<Handlers[K]>).delete(fn);
  };
}
