/**
 * One EventSource (GET /api/stream) for the whole page; pages subscribe to
 * the events they draw. The browser reconnects by itself after a drop (4G).
 */
import type { CommandRecord, Reason, SiteCondition } from './types.ts';

export interface ConditionEvent {
  siteId: string;
  at: number;
  from: SiteCondition | null;
  to: SiteCondition;
  reasons: Reason[];
}

/** An alert changed (server/alerts/service.ts AlertChange, without its area list): started, delivery moved, updated, cancelled, expired. */
export interface AlertEvent {
  kind: 'started' | 'delivery' | 'updated' | 'cancelled' | 'expired';
  alertId: string;
  revision: number;
  state: 'active' | 'cancelled' | 'expired';
  test: boolean;
  title: string;
  /** Network-wide delivery counts: sent only to users of the whole network. */
  counts?: Record<string, number>;
}

type Handlers = { condition: (e: ConditionEvent) => void; command: (e: CommandRecord) => void; alert: (e: AlertEvent) => void; status: (connected: boolean) => void };
type Kind = keyof Handlers;

const subs: { [K in Kind]: Set<Handlers[K]> } = { condition: new Set(), command: new Set(), alert: new Set(), status: new Set() };
let source: EventSource | null = null;
let connected = false;

function setConnected(v: boolean) {
  connected = v;
  subs.status.forEach((f) => f(v));
}

export function startLiveUpdates(): void {
  if (source) return;
  source = new EventSource('/api/stream');
  source.addEventListener('hello', () => setConnected(true));
  source.addEventListener('error', () => setConnected(false));
  source.addEventListener('condition', (e) => subs.condition.forEach((f) => f(JSON.parse((e as MessageEvent<string>).data) as ConditionEvent)));
  source.addEventListener('alert', (e) => subs.alert.forEach((f) => f(JSON.parse((e as MessageEvent<string>).data) as AlertEvent)));
  source.addEventListener('command', (e) => subs.command.forEach((f) => f(JSON.parse((e as MessageEvent<string>).data) as CommandRecord)));
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
