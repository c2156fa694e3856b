/**
 * Sites (commune stations and village clusters) and their credentials.
 *
 * A credential is issued once at registration (or rotation), returned to the
 * caller once, and stored only as hashes: scrypt for loanet's own checks, an
 * external broker's own form when one is given (`BrokerPasswordHasher`), and a SHA-256
 * digest that loanet checks (the secret is 256 random bits, so the digest is
 * as unguessable as the secret and costs microseconds: no scrypt storm when
 * 3,000 agents reconnect or fetch an alert's audio after a server start).
 * Verified digests are also cached in memory; the cache is dropped on rotate/retire.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
import type { SiteKind } from './model.ts';
import { Errors, fail } from '../errors.ts';
import { isValidSiteId } from '../../protocol/index.ts';
import { hashSecretAsync, newSecret, SITE_SECRET_COST, tokenDigest, verifySecret } from '../auth/secrets.ts';
import { timingSafeEqual } from 'node:crypto';
import type { Area, AreaRepository } from './areas.ts';

/**
 * An external broker's own hash of a new site secret (Mosquitto's `$7$`),
 * stored with the credential and served back by `brokerCredentials()`. It is
 * injected because it can only be made at issue, the one time the plain
 * secret is known, and the registry must not depend on the broker: the
 * composition root hands it the fleet's hasher.
 */
export type BrokerPasswordHasher = (secret: string) => string;

export interface ExpectedDevice {
  id: string;
  kind: string;
}

export interface Site {
  id: string;
  name: string;
  kind: SiteKind;
  areaId: number;
  areaKey: string;
  lat: number | null;
  lon: number | null;
  profile: string | null;
  expectedDevices: ExpectedDevice[];
  monitorMic: boolean;
  createdAt: number;
  updatedAt: number;
  retiredAt: number | null;
}

interface SiteRow {
  id: string;
  name: string;
  kind: SiteKind;
  area_id: number;
  area_key: string;
  lat: number | null;
  lon: number | null;
  profile: string | null;
  expected_devices: string;
  monitor_mic: number;
  created_at: number;
  updated_at: number;
  retired_at: number | null;
}

export interface SiteInput {
  id?: string;
  name: string;
  kind: SiteKind;
  areaKey: string;
  lat?: number | null;
  lon?: number | null;
  profile?: string | null;
  expectedDevices?: ExpectedDevice[];
  monitorMic?: boolean;
}

export interface IssuedCredential {
  siteId: string;
  /** Shown once; loanet keeps only its hash. */
  secret: string;
}

const SELECT = `SELECT s.*, a.version || '.' || a.code AS area_key FROM sites s JOIN areas a ON a.id = s.area_id`;

function toSite(r: SiteRow): Site {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    areaId: r.area_id,
    areaKey: r.area_key,
    lat: r.lat,
    lon: r.lon,
    profile: r.profile,
    expectedDevices: JSON.parse(r.expected_devices) as ExpectedDevice[],
    monitorMic: r.monitor_mic === 1,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    retiredAt: r.retired_at,
  };
}

export class SiteRepository {
  /** digest(siteId + secret) → true, for credentials verified since the last change. */
  private readonly verified = new Map<string, string>();
  /**
   * Prepared once, on first use (after start-up's migrations): get, list and
   * the credential check run per request and per alert, and preparing their
   * SQL each time was a visible share of an alert's dispatch (BENCHMARKS.md,
   * bottleneck 6). list's few WHERE shapes are kept by their SQL text.
   */
  private st?: { get: Statement; credential: Statement; saveDigest: Statement };
  private readonly listSt = new Map<string, Statement>();

  constructor(
    private readonly db: Db,
    private readonly areas: AreaRepository,
    private readonly defaultVersion: () => string,
    private readonly now: () => number = Date.now,
    /** Without one, credentials carry no broker hash (as those issued before schema 2). */
    private readonly brokerPasswordHash: BrokerPasswordHasher | null = null,
  ) {}

  private statements(): NonNullable<SiteRepository['st']> {
    this.st ??= {
      get: this.db.prepare(`${SELECT} WHERE s.id = ?`),
      credential: this.db.prepare(
        `SELECT c.id, c.secret_hash, c.secret_digest FROM site_credentials c JOIN sites s ON s.id = c.site_id
         WHERE c.site_id = ? AND c.revoked_at IS NULL AND s.retired_at IS NULL ORDER BY c.id DESC LIMIT 1`,
      ),
      saveDigest: this.db.prepare('UPDATE site_credentials SET secret_digest = ? WHERE id = ? AND secret_digest IS NULL'),
    };
    return this.st;
  }

  get(id: string): Site | undefined {
    const r = this.statements().get.get(id) as SiteRow | undefined;
    return r && toSite(r);
  }

  require(id: string): Site {
    const s = this.get(id);
    if (!s) throw Errors.notFound('site', id);
    return s;
  }

  /** Sites, optionally only those whose area lies in one of the given area ids (a subtree, expanded by the caller). */
  list(filter: { areaIds?: Set<number>; kind?: SiteKind; q?: string; includeRetired?: boolean } = {}): Site[] {
    const where: string[] = [];
    const args: string[] = [];
    if (!filter.includeRetired) where.push('s.retired_at IS NULL');
    if (filter.kind) where.push('s.kind = ?'), args.push(filter.kind);
    if (filter.q) where.push('(s.id LIKE ? OR s.name LIKE ?)'), args.push(`%${filter.q}%`, `%${filter.q}%`);
    const sql = `${SELECT} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY s.id`;
    let st = this.listSt.get(sql);
    if (!st) this.listSt.set(sql, (st = this.db.prepare(sql)));
    const rows = st.all(...args) as SiteRow[];
    const sites = rows.map(toSite);
    return filter.areaIds ? sites.filter((s) => filter.areaIds!.has(s.areaId)) : sites;
  }

  /**
   * Register a site and issue its first credential. The credential's scrypt
   * hash is computed on libuv's thread pool, so registering sites does not
   * hold the event loop; the checks run again after it, with the write.
   */
  async create(input: SiteInput): Promise<{ site: Site; credential: IssuedCredential }> {
    this.placeNew(input);
    const secret = newSecret();
    const secretHash = await hashSecretAsync(secret, SITE_SECRET_COST);
    // Again, in the same turn as the write: a site with this id may have been made (or the area retired) meanwhile.
    const { area, id } = this.placeNew(input);
    const t = this.now();
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO sites (id, name, kind, area_id, lat, lon, profile, expected_devices, monitor_mic, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          id,
          input.name,
          input.kind,
          area.id,
          input.lat ?? area.lat ?? null,
          input.lon ?? area.lon ?? null,
          input.profile ?? null,
          JSON.stringify(input.expectedDevices ?? []),
          input.monitorMic ? 1 : 0,
          t,
          t,
        );
      this.insertCredential(id, secret, secretHash, t);
    })();
    return { site: this.get(id)!, credential: { siteId: id, secret } };
  }

  /** The area and id a new site gets, or the refusal (retired area, bad or taken id). */
  private placeNew(input: SiteInput): { area: Area; id: string } {
    const area = this.areas.require(input.areaKey, this.defaultVersion());
    if (area.retiredAt) throw fail('LOANET_REFERS_TO_RETIRED', { field: 'areaKey', thing: 'area', id: area.key });
    const id = input.id ?? this.nextId(area, input.kind);
    if (!isValidSiteId(id)) throw fail('LOANET_SITE_ID_FORMAT', { field: 'id', id });
    if (this.get(id)) throw fail('LOANET_NAME_TAKEN', { thing: 'site', name: id });
    return { area, id };
  }

  update(id: string, patch: Partial<Omit<SiteInput, 'id'>>): Site {
    const s = this.require(id);
    if (s.retiredAt) throw fail('LOANET_RETIRED', { thing: 'site', id });
    let areaId = s.areaId;
    if (patch.areaKey !== undefined) {
      const area = this.areas.require(patch.areaKey, this.defaultVersion());
      if (area.retiredAt) throw fail('LOANET_REFERS_TO_RETIRED', { field: 'areaKey', thing: 'area', id: area.key });
      areaId = area.id;
    }
    this.db
      .prepare('UPDATE sites SET name = ?, kind = ?, area_id = ?, lat = ?, lon = ?, profile = ?, expected_devices = ?, monitor_mic = ?, updated_at = ? WHERE id = ?')
      .run(
        patch.name ?? s.name,
        patch.kind ?? s.kind,
        areaId,
        patch.lat !== undefined ? patch.lat : s.lat,
        patch.lon !== undefined ? patch.lon : s.lon,
        patch.profile !== undefined ? patch.profile : s.profile,
        JSON.stringify(patch.expectedDevices ?? s.expectedDevices),
        (patch.monitorMic ?? s.monitorMic) ? 1 : 0,
        this.now(),
        id,
      );
    return this.get(id)!;
  }

  /**
   * Issue a new credential; the old one stops working at once (its scrypt hash computed off the event loop, as in create).
   * `within` runs first in the same transaction (an enrolment code spent for this credential): if it throws, nothing changes.
   */
  async rotateCredential(id: string, within?: () => void): Promise<IssuedCredential> {
    this.requireActive(id);
    const secret = newSecret();
    const secretHash = await hashSecretAsync(secret, SITE_SECRET_COST);
    // Again, in the same turn as the write: the site may have been retired meanwhile.
    this.requireActive(id);
    const t = this.now();
    this.db.transaction(() => {
      within?.();
      this.db.prepare('UPDATE site_credentials SET revoked_at = ? WHERE site_id = ? AND revoked_at IS NULL').run(t, id);
      this.insertCredential(id, secret, secretHash, t);
    })();
    this.forget(id);
    return { siteId: id, secret };
  }

  private requireActive(id: string): void {
    const s = this.require(id);
    if (s.retiredAt) throw fail('LOANET_RETIRED', { thing: 'site', id });
  }

  /** Retire a site: its credential is revoked; its history stays. */
  retire(id: string): Site {
    const s = this.require(id);
    if (s.retiredAt) return s;
    const t = this.now();
    this.db.transaction(() => {
      this.db.prepare('UPDATE sites SET retired_at = ?, updated_at = ? WHERE id = ?').run(t, t, id);
      this.db.prepare('UPDATE site_credentials SET revoked_at = ? WHERE site_id = ? AND revoked_at IS NULL').run(t, id);
    })();
    this.forget(id);
    return this.get(id)!;
  }

  async verifyCredential(siteId: string, secret: string): Promise<boolean> {
    if (!isValidSiteId(siteId) || secret.length === 0 || secret.length > 256) return false;
    const digest = tokenDigest(`${siteId}\n${secret}`);
    if (this.verified.get(siteId) === digest) return true;
    const row = this.statements().credential.get(siteId) as { id: number; secret_hash: string; secret_digest: string | null } | undefined;
    if (!row) return false;
    let ok: boolean;
    if (row.secret_digest !== null) {
      ok = digestsEqual(row.secret_digest, digest);
    } else {
      // Issued before migration 8: scrypt once, then keep the digest for next time.
      ok = await verifySecret(secret, row.secret_hash);
      if (ok) this.statements().saveDigest.run(digest, row.id);
    }
    if (ok) this.verified.set(siteId, digest);
    return ok;
  }

  /**
   * The current credential of every active site as an external broker needs
   * it: its hash (`BrokerPasswordHasher`), or null for a credential issued
   * before schema 2 or by a repository given no hasher.
   */
  brokerCredentials(): Array<{ siteId: string; areaId: number; mosquittoHash: string | null }> {
    const rows = this.db
      .prepare(
        `SELECT s.id AS site_id, s.area_id, (SELECT c.mosquitto_hash FROM site_credentials c
            WHERE c.site_id = s.id AND c.revoked_at IS NULL ORDER BY c.id DESC LIMIT 1) AS mosquitto_hash
         FROM sites s WHERE s.retired_at IS NULL ORDER BY s.id`,
      )
      .all() as Array<{ site_id: string; area_id: number; mosquitto_hash: string | null }>;
    return rows.map((r) => ({ siteId: r.site_id, areaId: r.area_id, mosquittoHash: r.mosquitto_hash }));
  }

  /**
   * Every form is made now, the only time the plain secret is known: the
   * SHA-256 digest loanet checks (migration 8), scrypt (kept for credentials'
   * history and older servers; `secretHash`, computed by the caller off the
   * event loop), and the external broker's form (`brokerPasswordHash`).
   */
  private insertCredential(siteId: string, secret: string, secretHash: string, t: number): void {
    const brokerHash = this.brokerPasswordHash?.(secret) ?? null;
    this.db
      .prepare('INSERT INTO site_credentials (site_id, secret_hash, mosquitto_hash, secret_digest, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(siteId, secretHash, brokerHash, tokenDigest(`${siteId}\n${secret}`), t);
  }

  private forget(id: string): void {
    this.verified.delete(id);
  }

  /** `{areaCode}-st{n}` for stations, `{areaCode}-cl{n}` for clusters: readable in logs and topics. */
  private nextId(area: Area, kind: SiteKind): string {
    const prefix = `${area.code.toLowerCase()}-${kind === 'station' ? 'st' : 'cl'}`;
    for (let n = 1; ; n++) {
      const id = `${prefix}${n}`;
      if (!this.get(id)) return id;
    }
  }
}

/** Constant-time comparison of two hex digests (a timing side channel must not reveal a prefix). */
function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
