/**
 * CAP senders: who may post CAP messages under which `<sender>`, and where.
 *
 * A CAP document names its sender itself, so on its own the sender proves
 * nothing. An admin registers each sender with the area its messages may
 * reach (null: the whole network) and binds the accounts allowed to post
 * under it: a user (any of their sessions and API tokens) or one API token
 * of a user (a script, not the person's other logins). A posted message is
 * refused (403, naming the sender) unless the caller is bound to its sender.
 *
 * Decisions:
 * - A network-wide admin may post under any sender, registered or not (it
 *   could bind itself anyway); the sender's area still applies when it is
 *   registered. Nobody else may post under an unregistered sender.
 * - On upgrade nothing is bound: users who posted CAP before are refused
 *   until an admin binds them; GET /api/alerts/cap/senders lists the senders
 *   seen in past messages but not registered, with who posted them, so the
 *   admin can bind them in one step. Alerts already received keep their
 *   (sender, identifier) and can be updated or cancelled by the accounts
 *   bound to that sender afterwards.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import { fail } from '../errors.ts';

export interface CapSenderAccount {
  id: number;
  userId: number;
  username: string;
  /** Only this API token of the user may post; null: any credential of the user. */
  tokenId: number | null;
}

export interface CapSender {
  id: number;
  sender: string;
  /** Area the sender's messages may reach (its subtree); null: the whole network. */
  areaId: number | null;
  note: string | null;
  createdAt: number;
  updatedAt: number;
  accounts: CapSenderAccount[];
}

/** The caller of POST /api/alerts/cap as the binding sees it. */
export interface CapPoster {
  userId: number;
  role: string;
  areaId: number | null;
  tokenId: number;
  tokenKind: 'session' | 'api';
}

export type CapSenderDecision = { ok: true; senderAreaId: number | null } | { ok: false; reason: string };

/** Whether `poster` may post under `sender` (its registration, or undefined when unregistered); pure. */
export function capSenderDecision(senderName: string, sender: CapSender | undefined, poster: CapPoster): CapSenderDecision {
  const networkAdmin = poster.role === 'admin' && poster.areaId === null;
  if (!sender) {
    if (networkAdmin) return { ok: true, senderAreaId: null };
    return { ok: false, reason: `sender ${senderName} is not registered: an admin must register it and bind your account to it (POST /api/alerts/cap/senders)` };
  }
  const bound = sender.accounts.some((a) => a.userId === poster.userId && (a.tokenId === null || (poster.tokenKind === 'api' && a.tokenId === poster.tokenId)));
  if (bound || networkAdmin) return { ok: true, senderAreaId: sender.areaId };
  return { ok: false, reason: `your account is not bound to sender ${senderName}: an admin must bind it (PATCH /api/alerts/cap/senders/${sender.id})` };
}

interface SenderRow {
  id: number;
  sender: string;
  area_id: number | null;
  note: string | null;
  created_at: number;
  updated_at: number;
}

export class CapSenderStore {
  /** Prepared once, on first use: every CAP message posted looks its sender and accounts up. */
  private st?: { accounts: Statement; bySender: Statement; byId: Statement };

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  private statements(): NonNullable<CapSenderStore['st']> {
    this.st ??= {
      accounts: this.db.prepare(
        'SELECT a.id, a.user_id, u.username, a.token_id FROM cap_sender_accounts a JOIN users u ON u.id = a.user_id WHERE a.sender_id = ? ORDER BY u.username, a.token_id',
      ),
      bySender: this.db.prepare('SELECT * FROM cap_senders WHERE sender = ?'),
      byId: this.db.prepare('SELECT * FROM cap_senders WHERE id = ?'),
    };
    return this.st;
  }

  private accountsOf(senderId: number): CapSenderAccount[] {
    return (this.statements().accounts.all(senderId) as Array<{ id: number; user_id: number; username: string; token_id: number | null }>).map((r) => ({
      id: r.id,
      userId: r.user_id,
      username: r.username,
      tokenId: r.token_id,
    }));
  }

  private toSender(r: SenderRow): CapSender {
    return { id: r.id, sender: r.sender, areaId: r.area_id, note: r.note, createdAt: r.created_at, updatedAt: r.updated_at, accounts: this.accountsOf(r.id) };
  }

  list(): CapSender[] {
    return (this.db.prepare('SELECT * FROM cap_senders ORDER BY sender').all() as SenderRow[]).map((r) => this.toSender(r));
  }

  byId(id: number): CapSender | undefined {
    const r = this.statements().byId.get(id) as SenderRow | undefined;
    return r && this.toSender(r);
  }

  bySender(sender: string): CapSender | undefined {
    const r = this.statements().bySender.get(sender) as SenderRow | undefined;
    return r && this.toSender(r);
  }

  /** Senders of CAP messages received but not registered (before the binding existed), with who posted them. */
  unregistered(): Array<{ sender: string; messages: number; postedBy: string[] }> {
    const rows = this.db
      .prepare(
        `SELECT m.sender, COUNT(*) AS n, GROUP_CONCAT(DISTINCT m.received_by) AS by FROM cap_messages m
         WHERE NOT EXISTS (SELECT 1 FROM cap_senders s WHERE s.sender = m.sender) GROUP BY m.sender ORDER BY m.sender`,
      )
      .all() as Array<{ sender: string; n: number; by: string | null }>;
    return rows.map((r) => ({ sender: r.sender, messages: r.n, postedBy: r.by ? r.by.split(',').sort() : [] }));
  }

  /**
   * Register a sender with its area and accounts (all or nothing). Accounts
   * are checked by the caller (users exist, tokens are theirs).
   */
  create(input: { sender: string; areaId: number | null; note: string | null; accounts: Array<{ userId: number; tokenId: number | null }>; createdBy: number }): CapSender {
    if (this.bySender(input.sender)) throw fail('LOANET_NAME_TAKEN', { thing: 'cap_sender', name: input.sender });
    const t = this.now();
    const id = this.db.transaction(() => {
      const info = this.db
        .prepare('INSERT INTO cap_senders (sender, area_id, note, created_at, created_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(input.sender, input.areaId, input.note, t, input.createdBy, t);
      const senderId = Number(info.lastInsertRowid);
      this.setAccounts(senderId, input.accounts);
      return senderId;
    })();
    return this.byId(id)!;
  }

  /** Change area, note and/or the whole list of accounts. */
  update(id: number, change: { areaId?: number | null; note?: string | null; accounts?: Array<{ userId: number; tokenId: number | null }> }): CapSender {
    this.db.transaction(() => {
      if (change.areaId !== undefined) this.db.prepare('UPDATE cap_senders SET area_id = ? WHERE id = ?').run(change.areaId, id);
      if (change.note !== undefined) this.db.prepare('UPDATE cap_senders SET note = ? WHERE id = ?').run(change.note, id);
      if (change.accounts) this.setAccounts(id, change.accounts);
      this.db.prepare('UPDATE cap_senders SET updated_at = ? WHERE id = ?').run(this.now(), id);
    })();
    return this.byId(id)!;
  }

  remove(id: number): void {
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM cap_sender_accounts WHERE sender_id = ?').run(id);
      this.db.prepare('DELETE FROM cap_senders WHERE id = ?').run(id);
    })();
  }

  private setAccounts(senderId: number, accounts: Array<{ userId: number; tokenId: number | null }>): void {
    this.db.prepare('DELETE FROM cap_sender_accounts WHERE sender_id = ?').run(senderId);
    const ins = this.db.prepare('INSERT OR IGNORE INTO cap_sender_accounts (sender_id, user_id, token_id, created_at) VALUES (?, ?, ?, ?)');
    const t = this.now();
    for (const a of accounts) ins.run(senderId, a.userId, a.tokenId, t);
  }
}
