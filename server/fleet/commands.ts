/**
 * Commands to sites (set volume, amplifier power, test tone, sound check,
 * reboot): stored first, sent when the site is online, answered exactly once.
 *
 * A command for an offline site waits until the site comes back or its time
 * to live runs out (then it is 'expired', never run late). A command sent but
 * not answered before the site dropped is sent again on reconnect; the agent
 * de-duplicates by id, so it still runs at most once.
 *
 * Every status change is one conditional UPDATE (… WHERE status IN …
 * RETURNING): a result, an expiry and a send can race (one server or several
 * on one PostgreSQL), and the statement, not a read before it, decides which
 * wins, so a late result never overwrites a final status.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import { PROTOCOL_VERSION, decodeCommand, encodeJson, siteTopic, type CommandMessage, type CommandResultEvent, type CommandType } from '../../protocol/index.ts';
import { Errors } from '../errors.ts';
import type { CommandsTable, Database } from '../store/schema.ts';
import type { BrokerLink, Logger } from './broker.ts';

export type CommandStatus = 'queued' | 'sent' | 'succeeded' | 'failed' | 'expired';

export interface CommandRecord {
  id: string;
  siteId: string;
  type: CommandType;
  params: Record<string, unknown>;
  createdBy: string | null;
  createdAt: number;
  expiresAt: number;
  status: CommandStatus;
  sentAt: number | null;
  completedAt: number | null;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

const toRecord = (r: Selectable<CommandsTable>): CommandRecord => ({
  id: r.id,
  siteId: r.site_id,
  // The column holds what issue() checked against the protocol's schema.
  type: r.type as CommandType,
  params: JSON.parse(r.params) as Record<string, unknown>,
  createdBy: r.created_by,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  status: r.status,
  sentAt: r.sent_at,
  completedAt: r.completed_at,
  result: r.result ? (JSON.parse(r.result) as Record<string, unknown>) : null,
  error: r.error ? (JSON.parse(r.error) as { code: string; message: string }) : null,
});

/** Statuses a command is still waiting in. */
const OPEN: Array<'queued' | 'sent'> = ['queued', 'sent'];
/**
 * Statuses a result may still complete: open ones, and expired (the site ran
 * it after all — it de-duplicates by id, so it ran once — and its answer is
 * the truth). Succeeded and failed are final: the first answer wins.
 */
const ANSWERABLE: Array<'queued' | 'sent' | 'expired'> = ['queued', 'sent', 'expired'];

export class CommandService {
  private readonly waiters = new Map<string, Array<(c: CommandRecord) => void>>();
  private readonly finishedListeners = new Set<(c: CommandRecord) => void>();
  /** The expiry running now: every site coming online after a restart (3,000 at once) shares one instead of starting its own. */
  private expiring: Promise<number> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly broker: BrokerLink,
    private readonly isOnline: (siteId: string) => boolean,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Validate, store and (if the site is online) send a command. */
  async issue(siteId: string, type: CommandType, params: Record<string, unknown>, ttlS: number, createdBy: string | null): Promise<CommandRecord> {
    const t = this.now();
    const id = `c${t.toString(36)}${randomBytes(6).toString('hex')}`;
    const message = { v: PROTOCOL_VERSION, id, siteId, type, params, issuedAt: t, expiresAt: t + ttlS * 1000 };
    // The same schema the agent applies: a bad parameter is refused here with its name, not at the site.
    const checked = decodeCommand.check(message);
    if (!checked.ok) throw Errors.badRequest(checked.error.reason.replace(/^cmd: /, 'command: '), 'params');
    await this.db
      .insertInto('commands')
      .values({ id, site_id: siteId, type, params: JSON.stringify(params), created_by: createdBy, created_at: t, expires_at: message.expiresAt, status: 'queued' })
      .execute();
    if (this.isOnline(siteId)) await this.send(checked.value);
    return (await this.get(id))!;
  }

  async get(id: string): Promise<CommandRecord | undefined> {
    const r = await this.db.selectFrom('commands').selectAll().where('id', '=', id).executeTakeFirst();
    return r && toRecord(r);
  }

  async list(siteId: string, limit = 50): Promise<CommandRecord[]> {
    const rows = await this.db.selectFrom('commands').selectAll().where('site_id', '=', siteId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
    return rows.map(toRecord);
  }

  /** Commands still waiting for the site, oldest first (none whose time to live has passed, marked expired or not yet). */
  async pendingFor(siteId: string): Promise<CommandRecord[]> {
    const rows = await this.db
      .selectFrom('commands')
      .selectAll()
      .where('site_id', '=', siteId)
      .where('status', 'in', OPEN)
      .where('expires_at', '>', this.now())
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toRecord);
  }

  /** Resolve when the command reaches a final status, or after `timeoutMs` with its status then. */
  async waitFor(id: string, timeoutMs: number): Promise<CommandRecord> {
    // Listening before reading: a result stored while the read is on its way is not missed.
    let done: ((rec: CommandRecord) => void) | undefined;
    const finished = new Promise<CommandRecord>((resolve) => {
      done = resolve;
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), resolve]);
    });
    const forget = () => {
      const list = this.waiters.get(id)?.filter((w) => w !== done) ?? [];
      if (list.length) this.waiters.set(id, list);
      else this.waiters.delete(id);
    };
    const c = await this.get(id).catch((err: unknown) => {
      forget();
      throw err;
    });
    if (!c) {
      forget();
      throw Errors.notFound('command', id);
    }
    if (isFinal(c.status) || timeoutMs <= 0) {
      forget();
      return c;
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const first = await Promise.race([finished, timedOut]);
    clearTimeout(timer);
    if (first !== 'timeout') return first;
    forget();
    return (await this.get(id)) ?? c;
  }

  /** The site is back: send everything that waits for it and has not expired. */
  async flush(siteId: string): Promise<void> {
    await this.expire();
    for (const c of await this.pendingFor(siteId)) {
      const message = { v: PROTOCOL_VERSION, id: c.id, siteId, type: c.type, params: c.params, issuedAt: c.createdAt, expiresAt: c.expiresAt };
      const checked = decodeCommand.check(message);
      if (checked.ok) await this.send(checked.value);
    }
  }

  /**
   * A cmd_result arrived from a site; resolves once the result is committed
   * (the site is told it is stored after that). The first answer wins;
   * repeats are ignored.
   */
  async complete(siteId: string, ev: CommandResultEvent): Promise<void> {
    // One conditional statement, not a read then a write: a second answer or an expiry arriving meanwhile
    // (another event, another server) cannot slip between them and be overwritten, nor overwrite this one.
    const row = await this.db
      .updateTable('commands')
      .set({
        status: ev.ok ? 'succeeded' : 'failed',
        completed_at: this.now(),
        result: ev.result ? JSON.stringify(ev.result) : null,
        error: ev.error ? JSON.stringify(ev.error) : null,
      })
      .where('id', '=', ev.cmdId)
      .where('site_id', '=', siteId)
      .where('status', 'in', ANSWERABLE)
      .returningAll()
      .executeTakeFirst();
    if (row) return this.notify(toRecord(row));
    const c = await this.get(ev.cmdId);
    // Already answered: a repeat (the site sends until acknowledged), ignored.
    if (c && c.siteId === siteId) return;
    this.log.warn({ siteId, cmdId: ev.cmdId }, 'result for an unknown command ignored');
  }

  /** Mark commands whose time to live has passed; resolves with how many. */
  expire(): Promise<number> {
    this.expiring ??= this.expireNow().finally(() => {
      this.expiring = undefined;
    });
    return this.expiring;
  }

  private async expireNow(): Promise<number> {
    const t = this.now();
    const err = JSON.stringify({ code: 'expired', message: 'the site did not answer before the command expired' });
    // One statement: a command answered meanwhile is no longer open and stays answered.
    const rows = await this.db
      .updateTable('commands')
      .set({ status: 'expired', completed_at: t, error: err })
      .where('status', 'in', OPEN)
      .where('expires_at', '<=', t)
      .returningAll()
      .execute();
    for (const r of rows) this.notify(toRecord(r));
    return rows.length;
  }

  private async send(m: CommandMessage): Promise<void> {
    try {
      await this.broker.publish(siteTopic(m.siteId, 'cmd'), encodeJson(m), { qos: 1 });
      // Only while it is open: a result that came back before this line keeps its final status.
      await this.db.updateTable('commands').set({ status: 'sent', sent_at: this.now() }).where('id', '=', m.id).where('status', 'in', OPEN).execute();
    } catch (err) {
      this.log.warn({ siteId: m.siteId, cmdId: m.id, err: (err as Error).message }, 'command not sent; it stays queued');
    }
  }

  /**
   * Called with each command once it is final (a result stored, or expired), after it is stored:
   * what a listener reads back is what the API answers. Returns the unsubscribe.
   */
  onFinished(listener: (c: CommandRecord) => void): () => void {
    this.finishedListeners.add(listener);
    return () => void this.finishedListeners.delete(listener);
  }

  /** `rec`: the row as the statement that made it final returned it. */
  private notify(rec: CommandRecord): void {
    const ws = this.waiters.get(rec.id);
    this.waiters.delete(rec.id);
    ws?.forEach((w) => w(rec));
    for (const l of this.finishedListeners) l(rec);
  }
}

export function isFinal(s: CommandStatus): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'expired';
}
