/**
 * Commands to sites (set volume, amplifier power, test tone, sound check,
 * reboot): stored first, sent when the site is online, answered exactly once.
 *
 * A command for an offline site waits until the site comes back or its time
 * to live runs out (then it is 'expired', never run late). A command sent but
 * not answered before the site dropped is sent again on reconnect; the agent
 * de-duplicates by id, so it still runs at most once.
 */
import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import { PROTOCOL_VERSION, decodeCommand, encodeJson, siteTopic, type CommandMessage, type CommandResultEvent, type CommandType } from '../../protocol/index.ts';
import { Errors } from '../errors.ts';
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

interface Row {
  id: string;
  site_id: string;
  type: CommandType;
  params: string;
  created_by: string | null;
  created_at: number;
  expires_at: number;
  status: CommandStatus;
  sent_at: number | null;
  completed_at: number | null;
  result: string | null;
  error: string | null;
}

const toRecord = (r: Row): CommandRecord => ({
  id: r.id,
  siteId: r.site_id,
  type: r.type,
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

export class CommandService {
  private readonly waiters = new Map<string, Array<(c: CommandRecord) => void>>();
  private readonly finishedListeners = new Set<(c: CommandRecord) => void>();
  /**
   * Prepared once, on first use: every site that comes online has its
   * waiting commands looked up (3,000 at once after a server restart), and
   * every cmd_result reads and completes its command.
   */
  private st?: { insert: Statement; get: Statement; pending: Statement; complete: Statement; due: Statement; expire: Statement; sent: Statement };

  constructor(
    private readonly db: Db,
    private readonly broker: BrokerLink,
    private readonly isOnline: (siteId: string) => boolean,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  private statements(): NonNullable<CommandService['st']> {
    this.st ??= {
      insert: this.db.prepare('INSERT INTO commands (id, site_id, type, params, created_by, created_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      get: this.db.prepare('SELECT * FROM commands WHERE id = ?'),
      pending: this.db.prepare("SELECT * FROM commands WHERE site_id = ? AND status IN ('queued','sent') ORDER BY created_at"),
      complete: this.db.prepare('UPDATE commands SET status = ?, completed_at = ?, result = ?, error = ? WHERE id = ?'),
      due: this.db.prepare("SELECT id FROM commands WHERE status IN ('queued','sent') AND expires_at <= ?"),
      expire: this.db.prepare("UPDATE commands SET status = 'expired', completed_at = ?, error = ? WHERE id = ?"),
      sent: this.db.prepare("UPDATE commands SET status = 'sent', sent_at = ? WHERE id = ? AND status IN ('queued','sent')"),
    };
    return this.st;
  }

  /** Validate, store and (if the site is online) send a command. */
  async issue(siteId: string, type: CommandType, params: Record<string, unknown>, ttlS: number, createdBy: string | null): Promise<CommandRecord> {
    const t = this.now();
    const id = `c${t.toString(36)}${randomBytes(6).toString('hex')}`;
    const message = { v: PROTOCOL_VERSION, id, siteId, type, params, issuedAt: t, expiresAt: t + ttlS * 1000 };
    // The same schema the agent applies: a bad parameter is refused here with its name, not at the site.
    const checked = decodeCommand.check(message);
    if (!checked.ok) throw Errors.badRequest(checked.error.reason.replace(/^cmd: /, 'command: '), 'params');
    this.statements().insert.run(id, siteId, type, JSON.stringify(params), createdBy, t, message.expiresAt, 'queued');
    if (this.isOnline(siteId)) await this.send(checked.value);
    return this.get(id)!;
  }

  get(id: string): CommandRecord | undefined {
    const r = this.statements().get.get(id) as Row | undefined;
    return r && toRecord(r);
  }

  list(siteId: string, limit = 50): CommandRecord[] {
    return (this.db.prepare('SELECT * FROM commands WHERE site_id = ? ORDER BY created_at DESC LIMIT ?').all(siteId, limit) as Row[]).map(toRecord);
  }

  pendingFor(siteId: string): CommandRecord[] {
    return (this.statements().pending.all(siteId) as Row[]).map(toRecord);
  }

  /** Resolve when the command reaches a final status, or after `timeoutMs` with its status then. */
  waitFor(id: string, timeoutMs: number): Promise<CommandRecord> {
    const c = this.get(id);
    if (!c) return Promise.reject(Errors.notFound('command', id));
    if (isFinal(c.status) || timeoutMs <= 0) return Promise.resolve(c);
    return new Promise((resolve) => {
      const done = (rec: CommandRecord) => {
        clearTimeout(timer);
        resolve(rec);
      };
      const timer = setTimeout(() => {
        const list = this.waiters.get(id)?.filter((w) => w !== done) ?? [];
        if (list.length) this.waiters.set(id, list);
        else this.waiters.delete(id);
        resolve(this.get(id)!);
      }, timeoutMs);
      this.waiters.set(id, [...(this.waiters.get(id) ?? []), done]);
    });
  }

  /** The site is back: send everything that waits for it and has not expired. */
  async flush(siteId: string): Promise<void> {
    this.expire();
    for (const c of this.pendingFor(siteId)) {
      const message = { v: PROTOCOL_VERSION, id: c.id, siteId, type: c.type, params: c.params, issuedAt: c.createdAt, expiresAt: c.expiresAt };
      const checked = decodeCommand.check(message);
      if (checked.ok) await this.send(checked.value);
    }
  }

  /** A cmd_result arrived from a site. The first answer wins; repeats are ignored. */
  complete(siteId: string, ev: CommandResultEvent): void {
    const c = this.get(ev.cmdId);
    if (!c || c.siteId !== siteId) {
      this.log.warn({ siteId, cmdId: ev.cmdId }, 'result for an unknown command ignored');
      return;
    }
    if (isFinal(c.status) && c.status !== 'expired') return;
    this.statements().complete.run(ev.ok ? 'succeeded' : 'failed', this.now(), ev.result ? JSON.stringify(ev.result) : null, ev.error ? JSON.stringify(ev.error) : null, c.id);
    this.notify(c.id);
  }

  /** Mark commands whose time to live has passed; returns how many. */
  expire(): number {
    const { due, expire: stmt } = this.statements();
    const ids = (due.all(this.now()) as Array<{ id: string }>).map((r) => r.id);
    if (ids.length === 0) return 0;
    const err = JSON.stringify({ code: 'expired', message: 'the site did not answer before the command expired' });
    this.db.transaction(() => ids.forEach((id) => stmt.run(this.now(), err, id)))();
    ids.forEach((id) => this.notify(id));
    return ids.length;
  }

  private async send(m: CommandMessage): Promise<void> {
    try {
      await this.broker.publish(siteTopic(m.siteId, 'cmd'), encodeJson(m), { qos: 1 });
      this.statements().sent.run(this.now(), m.id);
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

  private notify(id: string): void {
    const ws = this.waiters.get(id);
    if (!ws && this.finishedListeners.size === 0) return;
    this.waiters.delete(id);
    const rec = this.get(id)!;
    ws?.forEach((w) => w(rec));
    for (const l of this.finishedListeners) l(rec);
  }
}

export function isFinal(s: CommandStatus): boolean {
  return s === 'succeeded' || s === 'failed' || s === 'expired';
}
