/**
 * Enrolment of a board with a one-time code: a technician makes a code for a
 * site (valid for a limited time, one per site at a time, stored only as a
 * keyed digest), and the board trades it once for the site's credential.
 *
 * Trading a code rotates the site's secret (SiteRepository.rotateCredential)
 * and spends the code in the same transaction, by an UPDATE that only a code
 * not spent yet matches: of two boards racing for one code exactly one gets a
 * credential (on PostgreSQL the second UPDATE waits for the first
 * transaction, then matches nothing; on SQLite the transactions run one after
 * the other), and a code is spent only if the credential it bought was
 * stored. Every code made, used or refused is in the audit log; refusals are
 * counted against the guessing limits (limiter.ts) before the code is even
 * looked at.
 *
 * Answers are plain results, not HTTP: the route words them.
 */
import { randomBytes } from 'node:crypto';
import type { Kysely, Selectable } from 'kysely';
import type { Database, EnrolmentCodesTable } from '../store/schema.ts';
import type { SiteRepository } from '../registry/sites.ts';
import type { AuditLog } from '../audit.ts';
import { fail, LoanetError } from '../errors.ts';
import { CODE_RANDOM_BYTES, codeFromBytes, normaliseCode } from './code.ts';
import { codeDigest, digestsEqual } from './key.ts';
import type { EnrolLimiter, EnrolRefusal } from './limiter.ts';

/** Why a code was refused; the same words on the wire (api/enrolment.ts). */
export type EnrolRefusalReason = 'unknown' | 'expired' | 'used' | 'replaced' | 'site_retired';

export interface EnrolmentCode {
  siteId: string;
  /** XXXX-XXXX: shown once, to the one who made it. */
  code: string;
  createdAt: number;
  expiresAt: number;
}

/** What a site's page shows: the code waiting to be used (never the code itself), and the last enrolment. */
export interface EnrolmentStatus {
  pending: { createdAt: number; createdBy: string | null; expiresAt: number } | null;
  lastEnrolledAt: number | null;
  lastEnrolledFrom: string | null;
}

export type EnrolResult =
  | { ok: true; siteId: string; secret: string }
  | { ok: false; kind: 'refused'; reason: EnrolRefusalReason; siteId: string | null }
  | { ok: false; kind: 'limited'; limit: EnrolRefusal };

export interface EnrolmentDeps {
  db: Kysely<Database>;
  sites: Pick<SiteRepository, 'require' | 'get' | 'rotateCredential'>;
  audit: AuditLog;
  now: () => number;
  /** HMAC key of the stored digests (key.ts). */
  key: Buffer;
  /** How long a new code is valid. */
  ttlMs: number;
  limiter: EnrolLimiter;
  /** Random bytes for new codes (tests may draw their own). */
  random?: (n: number) => Uint8Array;
}

type CodeRow = Pick<Selectable<EnrolmentCodesTable>, 'id' | 'site_id' | 'code_digest' | 'expires_at' | 'used_at' | 'replaced_at'>;

/** Thrown inside the credential's transaction when another request spent the code first: the rotation is rolled back. */
class CodeSpent extends Error {}

export class EnrolmentService {
  constructor(private readonly deps: EnrolmentDeps) {}

  private byDigest(digest: string): Promise<CodeRow | undefined> {
    return this.deps.db
      .selectFrom('enrolment_codes')
      .select(['id', 'site_id', 'code_digest', 'expires_at', 'used_at', 'replaced_at'])
      .where('code_digest', '=', digest)
      .executeTakeFirst();
  }

  /**
   * A new code for an active site; any code of that site not used yet stops
   * working (one code per site at a time: the one on the technician's screen).
   */
  async create(siteId: string, actor: { id: number; username: string }): Promise<EnrolmentCode> {
    const site = await this.deps.sites.require(siteId);
    if (site.retiredAt) throw fail('LOANET_RETIRED', { thing: 'site', id: siteId });
    const random = this.deps.random ?? randomBytes;
    const createdAt = this.deps.now();
    const expiresAt = createdAt + this.deps.ttlMs;
    // A digest equal to a stored one (another code drawn again: about 1 in 10^12 per stored code) is drawn anew.
    for (let attempt = 0; attempt < 8; attempt++) {
      const code = codeFromBytes(random(CODE_RANDOM_BYTES));
      const digest = codeDigest(this.deps.key, code);
      if (await this.byDigest(digest)) continue;
      await this.deps.db.transaction().execute(async (trx) => {
        // The site's row first, written unchanged: two codes made for one site at once then take turns (on PostgreSQL
        // the second waits here for the first to commit, then replaces its code), so only one is ever pending; and a
        // site retired since the check above is refused, not given a code.
        const site = await trx
          .updateTable('sites')
          .set((eb) => ({ updated_at: eb.ref('updated_at') }))
          .where('id', '=', siteId)
          .where('retired_at', 'is', null)
          .executeTakeFirst();
        if (site.numUpdatedRows === 0n) throw fail('LOANET_RETIRED', { thing: 'site', id: siteId });
        await trx
          .updateTable('enrolment_codes')
          .set({ replaced_at: createdAt })
          .where('site_id', '=', siteId)
          .where('used_at', 'is', null)
          .where('replaced_at', 'is', null)
          .execute();
        await trx
          .insertInto('enrolment_codes')
          .values({ site_id: siteId, code_digest: digest, created_at: createdAt, created_by: actor.username, expires_at: expiresAt })
          .execute();
      });
      await this.deps.audit.record(actor, 'site.enrolment.create', siteId, { expiresAt });
      return { siteId, code, createdAt, expiresAt };
    }
    throw new Error('could not draw an unused enrolment code in 8 tries: the random source is broken');
  }

  async status(siteId: string): Promise<EnrolmentStatus> {
    const db = this.deps.db;
    const pending = await db
      .selectFrom('enrolment_codes')
      .select(['created_at', 'created_by', 'expires_at'])
      .where('site_id', '=', siteId)
      .where('used_at', 'is', null)
      .where('replaced_at', 'is', null)
      .where('expires_at', '>', this.deps.now())
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    const last = await db
      .selectFrom('enrolment_codes')
      .select(['used_at', 'used_from'])
      .where('site_id', '=', siteId)
      .where('used_at', 'is not', null)
      .orderBy('used_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return {
      pending: pending ? { createdAt: pending.created_at, createdBy: pending.created_by, expiresAt: pending.expires_at } : null,
      lastEnrolledAt: last?.used_at ?? null,
      lastEnrolledFrom: last?.used_from ?? null,
    };
  }

  /**
   * Trade a code for the site's credential (a new secret: the board enrolled
   * before is refused from now on). `address` is the client's, for the
   * limits and the audit log.
   */
  async enrol(typed: string, address: string): Promise<EnrolResult> {
    const { limiter, now, audit } = this.deps;
    const attempt = await limiter.attempt(address, now());
    if (!attempt.ok) return { ok: false, kind: 'limited', limit: attempt };
    const refuse = async (reason: EnrolRefusalReason, siteId: string | null): Promise<EnrolResult> => {
      await attempt.fail();
      await audit.record(null, 'site.enrol.refused', siteId, { reason, from: address });
      return { ok: false, kind: 'refused', reason, siteId };
    };

    const code = normaliseCode(typed);
    if (code === null) return refuse('unknown', null);
    const digest = codeDigest(this.deps.key, code);
    const row = await this.byDigest(digest);
    // The lookup is by a keyed digest, which tells a timing observer nothing about the code; the
    // comparison of what was found is constant-time all the same.
    if (!row || !digestsEqual(row.code_digest, digest)) return refuse('unknown', null);
    const state = codeState(row, now());
    if (state) return refuse(state, row.site_id);
    const site = await this.deps.sites.get(row.site_id);
    if (!site || site.retiredAt) return refuse('site_retired', row.site_id);

    let secret: string;
    try {
      ({ secret } = await this.deps.sites.rotateCredential(row.site_id, async (trx: Kysely<Database>) => {
        // Spent only if nobody spent, replaced or outlived it since it was read above: the check and the write are
        // one statement, and another transaction's spend of the same row holds it until that one ends (then this
        // matches nothing). Inside the rotation's transaction, so the credential is stored only with the spend.
        const t = now();
        const spent = await trx
          .updateTable('enrolment_codes')
          .set({ used_at: t, used_from: address })
          .where('id', '=', row.id)
          .where('used_at', 'is', null)
          .where('replaced_at', 'is', null)
          .where('expires_at', '>', t)
          .returning('id')
          .executeTakeFirst();
        if (!spent) throw new CodeSpent();
      }));
    } catch (e) {
      if (e instanceof CodeSpent) {
        // Spent by a racing request, or it expired (or was replaced) while the secret was hashed.
        const again = await this.byDigest(digest);
        return refuse((again && codeState(again, now())) ?? 'used', row.site_id);
      }
      // rotateCredential refuses a site retired meanwhile.
      if (e instanceof LoanetError && e.statusCode === 409) return refuse('site_retired', row.site_id);
      // Not the board's fault: given back, and the store's failure is the one reported.
      await attempt.succeed().catch(() => undefined);
      throw e;
    }
    await attempt.succeed();
    await audit.record(null, 'site.enrol', row.site_id, { from: address });
    return { ok: true, siteId: row.site_id, secret };
  }
}

/** Why a stored code cannot be used now, or null when it can. */
function codeState(row: CodeRow, now: number): Exclude<EnrolRefusalReason, 'unknown' | 'site_retired'> | null {
  if (row.used_at !== null) return 'used';
  if (row.replaced_at !== null) return 'replaced';
  if (row.expires_at <= now) return 'expired';
  return null;
}
