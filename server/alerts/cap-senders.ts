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
import type { Kysely, Selectable, Transaction } from 'kysely';
import { fail } from '../errors.ts';
import type { CapSendersTable, Database } from '../store/schema.ts';

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

type SenderRow = Selectable<CapSendersTable>;

export class CapSenderStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  private async accountsOf(senderId: number): Promise<CapSenderAccount[]> {
    const rows = await this.db
      .selectFrom('cap_sender_accounts as a')
      .innerJoin('users as u', 'u.id', 'a.user_id')
      .select(['a.id', 'a.user_id', 'u.username', 'a.token_id'])
      .where('a.sender_id', '=', senderId)
      // NULL first, as SQLite sorts it: the whole account before its single tokens.
      .orderBy('u.username')
      .orderBy('a.token_id', (ob) => ob.asc().nullsFirst())
      .execute();
    return rows.map((r) => ({ id: r.id, userId: r.user_id, username: r.username, tokenId: r.token_id }));
  }

  private async toSender(r: SenderRow): Promise<CapSender> {
    return { id: r.id, sender: r.sender, areaId: r.area_id, note: r.note, createdAt: r.created_at, updatedAt: r.updated_at, accounts: await this.accountsOf(r.id) };
  }

  async list(): Promise<CapSender[]> {
    const out: CapSender[] = [];
    for (const r of await this.db.selectFrom('cap_senders').selectAll().orderBy('sender').execute()) out.push(await this.toSender(r));
    return out;
  }

  async byId(id: number): Promise<CapSender | undefined> {
    const r = await this.db.selectFrom('cap_senders').selectAll().where('id', '=', id).executeTakeFirst();
    return r && this.toSender(r);
  }

  async bySender(sender: string): Promise<CapSender | undefined> {
    const r = await this.db.selectFrom('cap_senders').selectAll().where('sender', '=', sender).executeTakeFirst();
    return r && this.toSender(r);
  }

  /** Senders of CAP messages received but not registered (before the binding existed), with who posted them. */
  async unregistered(): Promise<Array<{ sender: string; messages: number; postedBy: string[] }>> {
    // Who posted is gathered here, not with GROUP_CONCAT (SQLite) or string_agg (PostgreSQL): one query for both.
    const rows = await this.db
      .selectFrom('cap_messages as m')
      .select(['m.sender', 'm.received_by'])
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('cap_senders as s').select('s.id').whereRef('s.sender', '=', 'm.sender'))))
      .groupBy(['m.sender', 'm.received_by'])
      .execute();
    const bySender = new Map<string, { messages: number; postedBy: Set<string> }>();
    for (const r of rows) {
      const e = bySender.get(r.sender) ?? { messages: 0, postedBy: new Set<string>() };
      e.messages += Number(r.n);
      if (r.received_by !== null) e.postedBy.add(r.received_by);
      bySender.set(r.sender, e);
    }
    return [...bySender.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([sender, e]) => ({ sender, messages: e.messages, postedBy: [...e.postedBy].sort() }));
  }

  /**
   * Register a sender with its area and accounts (all or nothing). Accounts
   * are checked by the caller (users exist, tokens are theirs). Two requests
   * registering the same sender at once: the unique sender name lets one
   * insert and the other is LOANET_NAME_TAKEN, on both dialects.
   */
  async create(input: {
    sender: string;
    areaId: number | null;
    note: string | null;
    accounts: Array<{ userId: number; tokenId: number | null }>;
    createdBy: number;
  }): Promise<CapSender> {
    const t = this.now();
    const id = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('cap_senders')
        .values({ sender: input.sender, area_id: input.areaId, note: input.note, created_at: t, created_by: input.createdBy, updated_at: t })
        .onConflict((oc) => oc.column('sender').doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!row) return undefined;
      await this.setAccounts(trx, row.id, input.accounts);
      return row.id;
    });
    if (id === undefined) throw fail('LOANET_NAME_TAKEN', { thing: 'cap_sender', name: input.sender });
    return (await this.byId(id))!;
  }

  /** Change area, note and/or the whole list of accounts. */
  async update(id: number, change: { areaId?: number | null; note?: string | null; accounts?: Array<{ userId: number; tokenId: number | null }> }): Promise<CapSender> {
    await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('cap_senders')
        .set({
          ...(change.areaId !== undefined ? { area_id: change.areaId } : {}),
          ...(change.note !== undefined ? { note: change.note } : {}),
          updated_at: this.now(),
        })
        .where('id', '=', id)
        .execute();
      if (change.accounts) await this.setAccounts(trx, id, change.accounts);
    });
    return (await this.byId(id))!;
  }

  async remove(id: number): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('cap_sender_accounts').where('sender_id', '=', id).execute();
      await trx.deleteFrom('cap_senders').where('id', '=', id).execute();
    });
  }

  private async setAccounts(trx: Transaction<Database>, senderId: number, accounts: Array<{ userId: number; tokenId: number | null }>): Promise<void> {
    await trx.deleteFrom('cap_sender_accounts').where('sender_id', '=', senderId).execute();
    if (accounts.length === 0) return;
    const t = this.now();
    // The same account twice in a request is kept once (the unique index on sender, user and token).
    await trx
      .insertInto('cap_sender_accounts')
      .values(accounts.map((a) => ({ sender_id: senderId, user_id: a.userId, token_id: a.tokenId, created_at: t })))
      .onConflict((oc) => oc.doNothing())
      .execute();
  }
}
