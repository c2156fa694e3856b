/**
 * Enrolment of a board with a one-time code: a technician makes a code for a
 * site (valid for a limited time, one per site at a time, stored only as a
 * keyed digest), and the board trades it once for the site's credential.
 *
 * Trading a code rotates the site's secret (SiteRepository.rotateCredential)
 * and spends the code in the same SQLite transaction, so of two boards racing
 * for one code exactly one gets a credential, and a code is spent only if
 * the credential it bought was stored. Every code made, used or refused is
 * in the audit log; refusals are counted against the guessing limits
 * (limiter.ts) before the code is even looked at.
 *
 * Answers are plain results, not HTTP: the route words them.
 */
import { randomBytes } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
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
  db: Db;
  sites: SiteRepository;
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

interface CodeRow {
  id: number;
  site_id: string;
  code_digest: string;
  expires_at: number;
  used_at: number | null;
  replaced_at: number | null;
}

/** Thrown inside the credential's transaction when another request spent the code first: the rotation is rolled back. */
class CodeSpent extends Error {}

export class EnrolmentService {
  private st?: { byDigest: Statement; insert: Statement; replace: Statement; spend: Statement };

  constructor(private readonly deps: EnrolmentDeps) {}

  private statements(): NonNullable<EnrolmentService['st']> {
    const db = this.deps.db;
    this.st ??= {
      byDigest: db.prepare('SELECT id, site_id, code_digest, expires_at, used_at, replaced_at FROM enrolment_codes WHERE code_digest = ?'),
      insert: db.prepare('INSERT INTO enrolment_codes (site_id, code_digest, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?)'),
      replace: db.prepare('UPDATE enrolment_codes SET replaced_at = ? WHERE site_id = ? AND used_at IS NULL AND replaced_at IS NULL'),
      spend: db.prepare('UPDATE enrolment_codes SET used_at = ?, used_from = ? WHERE id = ? AND used_at IS NULL AND replaced_at IS NULL AND expires_at > ?'),
    };
    return this.st;
  }

  /**
   * A new code for an active site; any code of that site not used yet stops
   * working (one code per site at a time: the one on the technician's screen).
   */
  async create(siteId: string, actor: { id: number; username: string }): Promise<EnrolmentCode> {
    const site = this.deps.sites.require(siteId);
    if (site.retiredAt) throw fail('LOANET_RETIRED', { thing: 'site', id: siteId });
    const random = this.deps.random ?? randomBytes;
    const createdAt = this.deps.now();
    const expiresAt = createdAt + this.deps.ttlMs;
    const st = this.statements();
    // A digest equal to a stored one (another code drawn again: about 1 in 10^12 per stored code) is drawn anew.
    for (let attempt = 0; attempt < 8; attempt++) {
      const code = codeFromBytes(random(CODE_RANDOM_BYTES));
      const digest = codeDigest(this.deps.key, code);
      if (st.byDigest.get(digest)) continue;
      this.deps.db.transaction(() => {
        st.replace.run(createdAt, siteId);
        st.insert.run(siteId, digest, createdAt, actor.username, expiresAt);
      })();
      await this.deps.audit.record(actor, 'site.enrolment.create', siteId, { expiresAt });
      return { siteId, code, createdAt, expiresAt };
    }
    throw new Error('could not draw an unused enrolment code in 8 tries: the random source is broken');
  }

  status(siteId: string): EnrolmentStatus {
    const db = this.deps.db;
    const pending = db
      .prepare(
        'SELECT created_at, created_by, expires_at FROM enrolment_codes WHERE site_id = ? AND used_at IS NULL AND replaced_at IS NULL AND expires_at > ? ORDER BY id DESC LIMIT 1',
      )
      .get(siteId, this.deps.now()) as { created_at: number; created_by: string | null; expires_at: number } | undefined;
    const last = db.prepare('SELECT used_at, used_from FROM enrolment_codes WHERE site_id = ? AND used_at IS NOT NULL ORDER BY used_at DESC LIMIT 1').get(siteId) as
      | { used_at: number; used_from: string | null }
      | undefined;
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
    const attempt = limiter.attempt(address, now());
    if (!attempt.ok) return { ok: false, kind: 'limited', limit: attempt };
    const refuse = async (reason: EnrolRefusalReason, siteId: string | null): Promise<EnrolResult> => {
      attempt.fail();
      await audit.record(null, 'site.enrol.refused', siteId, { reason, from: address });
      return { ok: false, kind: 'refused', reason, siteId };
    };

    const code = normaliseCode(typed);
    if (code === null) return refuse('unknown', null);
    const digest = codeDigest(this.deps.key, code);
    const st = this.statements();
    const row = st.byDigest.get(digest) as CodeRow | undefined;
    // The lookup is by a keyed digest, which tells a timing observer nothing about the code; the
    // comparison of what was found is constant-time all the same.
    if (!row || !digestsEqual(row.code_digest, digest)) return refuse('unknown', null);
    const state = codeState(row, now());
    if (state) return refuse(state, row.site_id);
    const site = this.deps.sites.get(row.site_id);
    if (!site || site.retiredAt) return refuse('site_retired', row.site_id);

    let secret: string;
    try {
      ({ secret } = await this.deps.sites.rotateCredential(row.site_id, () => {
        if (st.spend.run(now(), address, row.id, now()).changes !== 1) throw new CodeSpent();
      }));
    } catch (e) {
      if (e instanceof CodeSpent) {
        // Spent by a racing request, or it expired (or was replaced) while the secret was hashed.
        const again = st.byDigest.get(digest) as CodeRow | undefined;
        return refuse((again && codeState(again, now())) ?? 'used', row.site_id);
      }
      // rotateCredential refuses a site retired meanwhile.
      if (e instanceof LoanetError && e.statusCode === 409) return refuse('site_retired', row.site_id);
      attempt.succeed();
      throw e;
    }
    attempt.succeed();
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
