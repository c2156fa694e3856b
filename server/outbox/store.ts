/**
 * The outbox's tables (migration 25: outbox_messages, outbox_sequences) on
 * the async Kysely store, SQLite or PostgreSQL.
 *
 * - enqueue: in the caller's transaction when given one, so what a message
 *   tells (an alarm raised) and the message are stored together or not at
 *   all. Its seq comes from an upsert of the destination's counter row: the
 *   row's lock orders two transactions enqueuing to one destination, so
 *   their numbers never collide, in either dialect.
 * - claim: the due heads of destinations (a destination's pending message
 *   with the lowest seq, and only it: one in flight per destination, in
 *   order), each marked with the claimer's token until a lease time. On
 *   PostgreSQL several servers claim at once: `FOR UPDATE SKIP LOCKED` lets
 *   each take rows the others did not lock, and a row claimed and committed
 *   by another is excluded by its unexpired claim. SQLite has one server
 *   (one process, one connection: transactions do not interleave).
 * - settle: the attempt's outcome, written only if the claim is still ours
 *   (a conditional update): a server whose claim lapsed (it stalled past the
 *   lease and another delivered the message) does not overwrite the result.
 */
import type { Kysely, Transaction } from 'kysely';
import type { StoreDialect } from '../store/database.ts';
import type { Database } from '../store/schema.ts';
import { isOutboxEventType, MAX_PAYLOAD_BYTES, newMessageId, OUTBOX_STATES, type JsonValue, type OutboxEventType, type OutboxMessage, type OutboxState } from './model.ts';
import type { Decision } from './retry-policy.ts';

type Row = Database['outbox_messages'];

function messageOf(r: Omit<Row, 'attempts'> & { attempts: number }): OutboxMessage {
  if (!isOutboxEventType(r.event_type)) throw new Error(`outbox store: message ${r.id} has an unknown event type ${r.event_type}`);
  return {
    id: r.id,
    destination: r.destination,
    seq: r.seq,
    type: r.event_type,
    payload: JSON.parse(r.payload) as JsonValue,
    createdAt: r.created_at,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    state: r.state,
    lastStatus: r.last_status,
    lastError: r.last_error,
    finishedAt: r.finished_at,
  };
}

/** A message claimed for one attempt: settle or release it with the same object. */
export interface ClaimedMessage extends OutboxMessage {
  readonly claimedBy: string;
}

export interface OutboxCounts {
  byState: Record<OutboxState, number>;
  /** Per destination, pending only: a receiver that is down shows here. */
  pendingByDestination: Record<string, number>;
  /** The oldest pending message's created_at, null when none waits. */
  oldestPendingAt: number | null;
}

export class OutboxStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /**
   * Stores a message for `destination`. With `trx`, it is part of the
   * caller's transaction (committed or rolled back with it); the outbox then
   * sends it at its next poll, or sooner if told (Outbox.notify) after the
   * commit.
   */
  async enqueue(input: { destination: string; type: OutboxEventType; payload: JsonValue; id?: string }, now: number, trx?: Transaction<Database>): Promise<OutboxMessage> {
    const payload = JSON.stringify(input.payload);
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) throw new RangeError(`an outbox payload is at most ${MAX_PAYLOAD_BYTES} bytes of JSON`);
    const run = async (t: Transaction<Database>): Promise<OutboxMessage> => {
      const { last_seq: seq } = await t
        .insertInto('outbox_sequences')
        .values({ destination: input.destination, last_seq: 1 })
        .onConflict((oc) => oc.column('destination').doUpdateSet((eb) => ({ last_seq: eb('outbox_sequences.last_seq', '+', 1) })))
        .returning('last_seq')
        .executeTakeFirstOrThrow();
      const row = {
        id: input.id ?? newMessageId(),
        destination: input.destination,
        seq,
        event_type: input.type,
        payload,
        created_at: now,
        state: 'pending' as const,
        attempts: 0,
        next_attempt_at: now,
        claimed_by: null,
        claimed_until: null,
        last_status: null,
        last_error: null,
        finished_at: null,
      };
      await t.insertInto('outbox_messages').values(row).execute();
      return messageOf(row);
    };
    return trx ? run(trx) : this.db.transaction().execute(run);
  }

  /** Several messages in one transaction (the caller's, when given): a fan-out to every destination is stored whole or not at all. */
  async enqueueAll(inputs: ReadonlyArray<{ destination: string; type: OutboxEventType; payload: JsonValue }>, now: number, trx?: Transaction<Database>): Promise<OutboxMessage[]> {
    const run = async (t: Transaction<Database>) => {
      const out: OutboxMessage[] = [];
      for (const input of inputs) out.push(await this.enqueue(input, now, t));
      return out;
    };
    if (inputs.length === 0) return [];
    return trx ? run(trx) : this.db.transaction().execute(run);
  }

  /**
   * Claims up to `limit` due messages, each the head of its destination, for
   * `claimer` until `now + leaseMs`; destinations in `only` (configured
   * here) and not in `busy` (already in flight here). Oldest due first.
   */
  async claim(opts: { now: number; limit: number; leaseMs: number; claimer: string; only: readonly string[]; busy: ReadonlySet<string> }): Promise<ClaimedMessage[]> {
    const { now, limit, leaseMs, claimer } = opts;
    const wanted = opts.only.filter((d) => !opts.busy.has(d));
    if (limit <= 0 || wanted.length === 0) return [];
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('outbox_messages as m')
        .selectAll('m')
        .where('m.state', '=', 'pending')
        .where('m.destination', 'in', wanted)
        .where('m.next_attempt_at', '<=', now)
        .where((eb) => eb.or([eb('m.claimed_until', 'is', null), eb('m.claimed_until', '<=', now)]))
        .where(({ eb, selectFrom }) =>
          eb(
            'm.seq',
            '=',
            selectFrom('outbox_messages as h')
              .select((h) => h.fn.min('h.seq').as('head'))
              .whereRef('h.destination', '=', 'm.destination')
              .where('h.state', '=', 'pending'),
          ),
        )
        .orderBy('m.next_attempt_at')
        .orderBy('m.created_at')
        .limit(limit)
        .$if(this.dialect === 'postgres', (q) => q.forUpdate().skipLocked())
        .execute();
      if (rows.length === 0) return [];
      await trx
        .updateTable('outbox_messages')
        .set({ claimed_by: claimer, claimed_until: now + leaseMs })
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute();
      return rows.map((r) => ({ ...messageOf(r), claimedBy: claimer }));
    });
  }

  /** Writes an attempt's outcome if `m` is still claimed by its claimer; false when the claim was lost. */
  async settle(m: ClaimedMessage, decision: Decision, now: number): Promise<boolean> {
    const common = { attempts: m.attempts + 1, claimed_by: null, claimed_until: null, last_status: decision.status };
    const set =
      decision.outcome === 'delivered'
        ? { ...common, state: 'delivered' as const, last_error: null, finished_at: now }
        : decision.outcome === 'failed'
          ? { ...common, state: 'failed' as const, last_error: decision.error, finished_at: now }
          : { ...common, next_attempt_at: decision.at, last_error: decision.error };
    const r = await this.db.updateTable('outbox_messages').set(set).where('id', '=', m.id).where('state', '=', 'pending').where('claimed_by', '=', m.claimedBy).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Gives a claimed message back untried (a stopping server), so another need not wait for the lease. */
  async release(m: ClaimedMessage): Promise<void> {
    await this.db.updateTable('outbox_messages').set({ claimed_by: null, claimed_until: null }).where('id', '=', m.id).where('claimed_by', '=', m.claimedBy).execute();
  }

  async message(id: string): Promise<OutboxMessage | undefined> {
    const r = await this.db.selectFrom('outbox_messages').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? messageOf(r) : undefined;
  }

  /** A destination's messages in seq order (`fromSeq` onwards): the pull side of a receiver, and what tests read. */
  async list(destination: string, opts: { fromSeq?: number; limit?: number } = {}): Promise<OutboxMessage[]> {
    const rows = await this.db
      .selectFrom('outbox_messages')
      .selectAll()
      .where('destination', '=', destination)
      .where('seq', '>=', opts.fromSeq ?? 0)
      .orderBy('seq')
      .limit(Math.min(opts.limit ?? 1000, 10_000))
      .execute();
    return rows.map(messageOf);
  }

  /** For /metrics: messages by state, pending ones by destination, the oldest pending. */
  async counts(): Promise<OutboxCounts> {
    const byState = Object.fromEntries(OUTBOX_STATES.map((s) => [s, 0])) as Record<OutboxState, number>;
    const states = await this.db
      .selectFrom('outbox_messages')
      .select(['state', (eb) => eb.fn.countAll().as('n')])
      .groupBy('state')
      .execute();
    for (const r of states) byState[r.state] = Number(r.n);
    const pending = await this.db
      .selectFrom('outbox_messages')
      .select(['destination', (eb) => eb.fn.countAll().as('n'), (eb) => eb.fn.min('created_at').as('oldest')])
      .where('state', '=', 'pending')
      .groupBy('destination')
      .execute();
    const pendingByDestination: Record<string, number> = {};
    let oldestPendingAt: number | null = null;
    for (const r of pending) {
      pendingByDestination[r.destination] = Number(r.n);
      const o = Number(r.oldest);
      if (oldestPendingAt === null || o < oldestPendingAt) oldestPendingAt = o;
    }
    return { byState, pendingByDestination, oldestPendingAt };
  }

  /** Deletes delivered and failed messages finished before `before`; the seq counters stay. Returns how many went. */
  async purgeFinished(before: number): Promise<number> {
    const r = await this.db.deleteFrom('outbox_messages').where('state', '<>', 'pending').where('finished_at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}
