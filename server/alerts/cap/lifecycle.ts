/**
 * De-duplication and lifecycle of CAP messages, pure: the caller passes what
 * it already knows (`KnownAlert`s looked up by key) and stores the outcome.
 *
 * Key = (sender, identifier) (CAP 1.2 §3.2.1: the identifier is unique per sender).
 * Classification of an incoming message, in this order:
 * - `duplicate`: the key is known with the same content hash (a re-send; nothing to do);
 * - `conflict`: the key is known with different content (the sender broke uniqueness; refuse);
 * - `update`: msgType Update, at least one reference resolves: those alerts are superseded
 *   and this one replaces them (references that do not resolve are listed as warnings);
 * - `cancel`: msgType Cancel, at least one reference resolves: those alerts are cancelled;
 *   a Cancel's own content is never broadcast;
 * - `unresolved_reference`: Update/Cancel (or Ack/Error) whose references all point to
 *   alerts loanet never saw. Decision: it is still stored as its own alert, with a warning.
 *   An unresolved Update is broadcast as a new alert — its content is the current truth
 *   from the sender and we may simply have missed the original; an unresolved Cancel has
 *   nothing to stop and is not broadcast;
 * - `new`: anything else.
 *
 * A sender only ever touches its own alerts: a reference to another sender's
 * message is never looked up (unresolved, with a warning), so a message can
 * neither update nor cancel another sender's alert, and de-duplication and
 * conflicts are by (sender, identifier) only. The HTTP layer binds each
 * sender to the accounts allowed to post under it (server/alerts/cap-senders.ts).
 *
 * Real and test worlds never mix: a Test/Exercise Update or Cancel does not touch an
 * Actual alert (its reference counts as unresolved, with a warning), nor the reverse.
 *
 * Status handling (`handling`): only status Actual is real. Test and Exercise become a
 * `test_run` that plays at test priority, never pre-empting a real alert or live
 * broadcast and pre-empted by them; Draft is refused for broadcast; System (network
 * housekeeping) is recorded and never broadcast. msgType Ack and Error never broadcast.
 */
import { createHash } from 'node:crypto';
import { capKeyString, type CapAlert, type CapKey, type CapReference } from './model.ts';

export interface KnownAlert {
  key: CapKey;
  sent: string;
  contentHash: string;
  state: 'active' | 'superseded' | 'cancelled' | 'expired';
  /** status Actual. A Test/Exercise message never supersedes or cancels an Actual alert, nor the reverse. */
  isActual: boolean;
}

export type LifecycleKind = 'new' | 'duplicate' | 'conflict' | 'update' | 'cancel' | 'unresolved_reference';

export type BroadcastDecision =
  /** Real alert: pre-empts bulletins and live broadcasts. */
  | 'broadcast'
  /** Test/Exercise: played at test priority, does not pre-empt real broadcasts. */
  | 'test_run'
  /** Draft: never sent to sites. */
  | 'refuse'
  /** System messages, Ack, Error, Cancel, duplicates, conflicts: nothing to play. */
  | 'none';

export interface Handling {
  isActual: boolean;
  broadcast: BroadcastDecision;
  preempts: boolean;
  reason: string;
}

export interface LifecycleOutcome {
  kind: LifecycleKind;
  key: CapKey;
  /** Known alerts this one supersedes (Update). */
  supersedes: CapKey[];
  /** Known alerts this one cancels (Cancel). */
  cancels: CapKey[];
  /** References to alerts loanet does not know. */
  unresolved: CapReference[];
  /** Store this message as an alert of its own (false for duplicate and conflict). */
  store: boolean;
  handling: Handling;
  warnings: string[];
}

/** SHA-256 over a canonical JSON of the parsed alert: whitespace and element order do not change it. */
export function capContentHash(alert: CapAlert): string {
  return createHash('sha256').update(canonicalJson(alert)).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function statusHandling(alert: CapAlert): Handling {
  switch (alert.status) {
    case 'Actual':
      return { isActual: true, broadcast: 'broadcast', preempts: true, reason: 'status Actual' };
    case 'Test':
    case 'Exercise':
      return {
        isActual: false,
        broadcast: 'test_run',
        preempts: false,
        reason: `status ${alert.status}: a test run that does not pre-empt real alerts or live broadcasts`,
      };
    case 'Draft':
      return { isActual: false, broadcast: 'refuse', preempts: false, reason: 'status Draft: not for broadcast' };
    case 'System':
      return { isActual: false, broadcast: 'none', preempts: false, reason: 'status System: network housekeeping, never broadcast' };
    default: {
      const never: never = alert.status;
      return never;
    }
  }
}

const NONE = (h: Handling, reason: string): Handling => ({ ...h, broadcast: 'none', preempts: false, reason });

export function classifyIncoming(alert: CapAlert, contentHash: string, lookup: (key: CapKey) => KnownAlert | undefined): LifecycleOutcome {
  const key: CapKey = { sender: alert.sender, identifier: alert.identifier };
  const status = statusHandling(alert);
  const base = { key, supersedes: [] as CapKey[], cancels: [] as CapKey[], unresolved: [] as CapReference[], warnings: [] as string[] };
  const existing = lookup(key);
  if (existing) {
    if (existing.contentHash === contentHash) {
      return { ...base, kind: 'duplicate', store: false, handling: NONE(status, 'duplicate of an alert already received') };
    }
    return {
      ...base,
      kind: 'conflict',
      store: false,
      handling: NONE(status, 'same sender and identifier as a known alert with different content'),
      warnings: [`${capKeyString(key)} is already known with different content; refused`],
    };
  }

  const resolved: CapKey[] = [];
  const seen = new Set<string>();
  for (const ref of alert.references) {
    const rk: CapKey = { sender: ref.sender, identifier: ref.identifier };
    const ks = capKeyString(rk);
    if (seen.has(ks)) continue;
    seen.add(ks);
    if (ref.sender !== alert.sender) {
      base.unresolved.push(ref);
      base.warnings.push(`reference ${ks} is another sender's message: a sender updates or cancels only its own alerts; not linked`);
      continue;
    }
    const known = lookup(rk);
    if (!known) {
      base.unresolved.push(ref);
      continue;
    }
    if (known.isActual !== status.isActual) {
      base.unresolved.push(ref);
      base.warnings.push(
        `reference ${ks} is ${known.isActual ? 'an Actual alert' : 'not an Actual alert'} and this message is ${status.isActual ? 'Actual' : `status ${alert.status}`}: not linked`,
      );
      continue;
    }
    if (known.sent !== ref.sent) base.warnings.push(`reference ${ks} says sent ${ref.sent}, the known alert was sent ${known.sent}`);
    if (known.state === 'cancelled') base.warnings.push(`reference ${ks} is already cancelled`);
    resolved.push(rk);
  }
  for (const u of base.unresolved.filter((r) => r.sender === alert.sender && !lookup({ sender: r.sender, identifier: r.identifier })))
    base.warnings.push(`reference ${u.sender},${u.identifier},${u.sent} is not a known alert`);

  switch (alert.msgType) {
    case 'Alert':
      return { ...base, kind: 'new', store: true, handling: status };
    case 'Update':
      if (resolved.length === 0) {
        return { ...base, kind: 'unresolved_reference', store: true, handling: status, warnings: [...base.warnings, 'Update of unknown alerts: handled as a new alert'] };
      }
      return { ...base, kind: 'update', supersedes: resolved, store: true, handling: status };
    case 'Cancel':
      if (resolved.length === 0) {
        return {
          ...base,
          kind: 'unresolved_reference',
          store: true,
          handling: NONE(status, 'Cancel of unknown alerts: nothing to stop'),
          warnings: [...base.warnings, 'Cancel of unknown alerts: stored, nothing cancelled'],
        };
      }
      return { ...base, kind: 'cancel', cancels: resolved, store: true, handling: NONE(status, 'Cancel: stops the referenced alerts, plays nothing') };
    case 'Ack':
    case 'Error':
      return {
        ...base,
        kind: resolved.length === 0 && alert.references.length > 0 ? 'unresolved_reference' : 'new',
        store: true,
        handling: NONE(status, `msgType ${alert.msgType}: not for broadcast`),
      };
    default: {
      const never: never = alert.msgType;
      return never;
    }
  }
}
