/**
 * CAP senders over HTTP (admin): which accounts may post CAP messages under
 * which <sender>, and into which area (cap-senders.ts decides; migration 10).
 * The alert routes read the same store when a CAP message arrives.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ServerContext } from '../context.ts';
import { enforceScope, requirePermission } from '../http/auth.ts';
import { capSenderChangeRefusal, withinScope } from '../auth/scope-policy.ts';
import type { CapSender, CapSenderStore } from './cap-senders.ts';
import { Errors, fail } from '../errors.ts';
import { CapSender as CapSenderView, CapSenderList } from '../../api/alerts.ts';
import { Ok } from '../../api/common.ts';

/** What these routes use of the server, and nothing else. */
export type RouteDeps = Pick<ServerContext, 'areas' | 'audit' | 'coverage' | 'users'>;

const SenderName = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[^\\s,<>&]+$',
  description: 'the CAP <sender> exactly as the messages carry it (no spaces or commas), e.g. pctt@laocai.gov.vn',
});
const SenderAccounts = Type.Array(
  Type.Object(
    {
      username: Type.String({ minLength: 1, maxLength: 100 }),
      tokenId: Type.Optional(Type.Integer({ minimum: 1, description: "only this API token of the user (a script) may post; left out: any of the user's credentials" })),
    },
    { additionalProperties: false },
  ),
  { maxItems: 100, description: 'the accounts allowed to post under the sender (the whole list: it replaces the previous one)' },
);
const SenderArea = Type.Union([Type.String({ minLength: 2, maxLength: 50 }), Type.Null()], {
  description: "area code or key the sender's messages may reach; null: the whole network",
});

export const capSenderRoutes =
  (ctx: RouteDeps, senders: CapSenderStore): FastifyPluginAsyncTypebox =>
  async (app) => {
    const senderView = async (x: CapSender) => {
      const area = x.areaId !== null ? await ctx.areas.byId(x.areaId) : undefined;
      return {
        id: x.id,
        sender: x.sender,
        area: area?.key ?? null,
        areaName: area?.name ?? null,
        note: x.note,
        createdAt: x.createdAt,
        updatedAt: x.updatedAt,
        accounts: x.accounts.map((a) => ({ username: a.username, tokenId: a.tokenId })),
      };
    };
    const areaIdOf = (raw: string | null | undefined): number | null | undefined => (raw === undefined ? undefined : raw === null ? null : ctx.coverage.resolveArea(raw).id);
    /** The accounts named in a request: users that exist and are visible to the admin, tokens that are theirs and live (400 naming the entry). */
    const accountsOf = async (list: Array<{ username: string; tokenId?: number }>, scope: number | null) => {
      const idx = ctx.coverage.areaIndex();
      // One after another: the first entry at fault is the one named.
      const out: Array<{ userId: number; tokenId: number | null; username: string; areaId: number | null }> = [];
      for (const [i, a] of list.entries()) {
        const u = await ctx.users.byUsername(a.username);
        if (!u || !withinScope(scope, u.areaId, idx)) throw fail('LOANET_REFERENCE_NOT_FOUND', { field: `accounts[${i}].username`, thing: 'user', id: a.username });
        if (a.tokenId !== undefined && !(await ctx.users.listApiTokens(u.id)).some((tk) => tk.id === a.tokenId && tk.revokedAt === null)) {
          throw fail('LOANET_TOKEN_NOT_LIVE', { field: `accounts[${i}].tokenId`, tokenId: String(a.tokenId), username: a.username });
        }
        out.push({ userId: u.id, tokenId: a.tokenId ?? null, username: u.username, areaId: u.areaId });
      }
      return out;
    };

    app.get(
      '/api/alerts/cap/senders',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'listCapSenders',
          summary: 'CAP senders and the accounts allowed to post under each (admin); senders seen in past messages but not registered, with who posted them',
          description: 'An admin scoped to an area sees only the senders registered inside it, and not the unregistered list.',
          response: { 200: CapSenderList },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        const idx = ctx.coverage.areaIndex();
        const list = (await senders.list()).filter((x) => withinScope(p.user.areaId, x.areaId, idx));
        return { senders: await Promise.all(list.map(senderView)), unregistered: p.user.areaId === null ? await senders.unregistered() : [] };
      },
    );

    app.post(
      '/api/alerts/cap/senders',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'createCapSender',
          summary: 'Register a CAP sender: the area its messages may reach and the accounts (users, or single API tokens) allowed to post under it (admin)',
          description:
            '201 with the sender; 400 names the account at fault; 403 naming `area` for a scoped admin outside its area or a network-wide sender; 409 already registered.',
          body: Type.Object(
            { sender: SenderName, area: Type.Optional(SenderArea), note: Type.Optional(Type.String({ maxLength: 200 })), accounts: SenderAccounts },
            { additionalProperties: false },
          ),
          response: { 201: CapSenderView },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'users.manage');
        const areaId = areaIdOf(req.body.area) ?? null;
        const accounts = await accountsOf(req.body.accounts, p.user.areaId);
        enforceScope(capSenderChangeRefusal(p.user.areaId, undefined, areaId, accounts, ctx.coverage.areaIndex()));
        const x = await senders.create({ sender: req.body.sender, areaId, note: req.body.note ?? null, accounts, createdBy: p.user.id });
        await ctx.audit.record(p.user, 'cap.sender.create', x.sender, { area: (await senderView(x)).area, accounts: (await senderView(x)).accounts });
        return reply.status(201).send(await senderView(x));
      },
    );

    app.patch(
      '/api/alerts/cap/senders/:id',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'updateCapSender',
          summary: "Change a CAP sender's area, note or accounts (the list given replaces the previous one) (admin)",
          params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
          body: Type.Object(
            { area: Type.Optional(SenderArea), note: Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Null()])), accounts: Type.Optional(SenderAccounts) },
            { additionalProperties: false, minProperties: 1 },
          ),
          response: { 200: CapSenderView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        const cur = await senders.byId(req.params.id);
        if (!cur) throw Errors.notFound('cap_sender', req.params.id);
        enforceScope(capSenderChangeRefusal(p.user.areaId, cur, undefined, [], ctx.coverage.areaIndex()));
        const areaId = areaIdOf(req.body.area);
        const accounts = req.body.accounts ? await accountsOf(req.body.accounts, p.user.areaId) : [];
        enforceScope(capSenderChangeRefusal(p.user.areaId, cur, areaId, accounts, ctx.coverage.areaIndex()));
        const x = await senders.update(cur.id, { areaId, note: req.body.note, ...(req.body.accounts ? { accounts } : {}) });
        await ctx.audit.record(p.user, 'cap.sender.update', x.sender, {
          area: req.body.area,
          note: req.body.note,
          accounts: req.body.accounts ? (await senderView(x)).accounts : undefined,
        });
        return senderView(x);
      },
    );

    app.delete(
      '/api/alerts/cap/senders/:id',
      {
        schema: {
          tags: ['alerts'],
          operationId: 'deleteCapSender',
          summary: 'Unregister a CAP sender: nobody but a network-wide admin may post under it any more; its alerts stay (admin)',
          params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
          response: { 200: Ok },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'users.manage');
        const cur = await senders.byId(req.params.id);
        if (!cur) throw Errors.notFound('cap_sender', req.params.id);
        enforceScope(capSenderChangeRefusal(p.user.areaId, cur, undefined, [], ctx.coverage.areaIndex()));
        await senders.remove(cur.id);
        await ctx.audit.record(p.user, 'cap.sender.remove', cur.sender);
        return { ok: true as const };
      },
    );
  };
