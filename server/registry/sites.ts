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
 *
 * On the Kysely store (SQLite or PostgreSQL), async.
 */
import type { Kysely, Selectable, Transaction } from 'kysely';
import type { Database, SitesTable } from '../store/schema.ts';
import type { SiteKind } from './model.ts';
import { Errors, fail } from '../errors.ts';
import { isValidSiteId } from '../../protocol/index.ts';
import { hashSecretAsync, newSecret, SITE_SECRET_COST, tokenDigest, verifySecret } from '../auth/secrets.ts';
import { timingSafeEqual } from 'node:crypto';
import { areaKey, lockArea, type Area, type AreaRepository } from './areas.ts';
import { noteRegistryChanges } from './changes.ts';

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

/**
 * How long a verified credential is trusted without the store: long enough
 * that 3,000 agents reconnecting at once cost one query each. A secret
 * rotated or a site retired through another server is dropped from the cache
 * by the registry watch within a second (`reread`); this bounds it should the
 * watch stall (the store unreachable from here).
 */
export const VERIFIED_TTL_MS = 60_000;

/** What the synchronous paths need of any site, retired or not: its name and place (SiteRepository.entry). */
export interface SiteEntry {
  id: string;
  name: string;
  areaId: number;
  areaKey: string;
  retired: boolean;
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

type SiteRow = Selectable<SitesTable> & { area_version: string; area_code: string };

type Executor = Kysely<Database> | Transaction<Database>;

function toSite(r: SiteRow): Site {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    areaId: r.area_id,
    areaKey: areaKey(r.area_version, r.area_code),
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
  /**
   * digest(siteId + secret) and when it was checked, for credentials verified
   * since the last change here. Trusted for VERIFIED_TTL_MS only: a rotation
   * or retirement through another server sharing the store is told here by the
   * registry watcher (`reread`) within a poll, and this bounds it should the watcher stall.
   */
  private readonly verified = new Map<string, { digest: string; at: number }>();
  /**
   * Counts credential changes (rotate, retire). A check that read the store
   * while one committed must not cache what it read: it caches only if the
   * count is what it was before its read.
   */
  private credentialChanges = 0;
  /**
   * Every site's name and place, retired ones too, for the paths that cannot
   * wait for the store (an alert's delivery view and its console events, a
   * scoped reader's filter): read by load() at start, then kept from this
   * repository's own writes after they commit, and from what another server
   * sharing a PostgreSQL store changed (`reread`, by the registry watcher).
   */
  private entries: Map<string, SiteEntry & { updatedAt: number }> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly areas: AreaRepository,
    private readonly defaultVersion: () => string,
    private readonly now: () => number = Date.now,
    /** Without one, credentials carry no broker hash (as those issued before schema 2). */
    private readonly brokerPasswordHash: BrokerPasswordHasher | null = null,
  ) {}

  /** Reads every site's entry into memory; the server awaits it before anything asks for `entry()`. */
  async load(): Promise<void> {
    const all = (await this.select(this.db).execute()).map(toSite);
    const entries = new Map<string, SiteEntry & { updatedAt: number }>();
    for (const s of all) entries.set(s.id, entryOf(s));
    // Writes that committed while this read ran are kept if newer.
    for (const [id, e] of this.entries ?? []) if ((entries.get(id)?.updatedAt ?? -1) < e.updatedAt) entries.set(id, e);
    this.entries = entries;
  }

  /** A site's name and place from memory (see `entries`); undefined for a site this server does not know. */
  entry(id: string): SiteEntry | undefined {
    if (!this.entries) throw new Error('SiteRepository.entry() before load(): the server loads the sites at start');
    return this.entries.get(id);
  }

  /** Every site's entry from memory, retired ones too. */
  allEntries(): Iterable<SiteEntry> {
    if (!this.entries) throw new Error('SiteRepository.allEntries() before load(): the server loads the sites at start');
    return this.entries.values();
  }

  /**
   * Sites as stored now, retired ones too, by id (one query per 500): what the
   * registry watcher re-reads after another server changed them. Each is put
   * into `entries` and its cached credential check dropped (a rotation there).
   */
  async reread(ids: readonly string[] | 'all'): Promise<Site[]> {
    const out: Site[] = [];
    if (ids === 'all') {
      out.push(...(await this.select(this.db).execute()).map(toSite));
      this.credentialChanges++;
      this.verified.clear();
    } else {
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        for (const id of chunk) this.forget(id);
        out.push(...(await this.select(this.db).where('s.id', 'in', chunk).execute()).map(toSite));
      }
    }
    for (const s of out) this.remember(s);
    return out;
  }

  async get(id: string): Promise<Site | undefined> {
    return this.getIn(this.db, id);
  }

  async require(id: string): Promise<Site> {
    const s = await this.get(id);
    if (!s) throw Errors.notFound('site', id);
    return s;
  }

  /** Sites, optionally only those whose area lies in one of the given area ids (a subtree, expanded by the caller). */
  async list(filter: { areaIds?: Set<number>; kind?: SiteKind; q?: string; includeRetired?: boolean } = {}): Promise<Site[]> {
    let q = this.select(this.db);
    if (!filter.includeRetired) q = q.where('s.retired_at', 'is', null);
    if (filter.kind) q = q.where('s.kind', '=', filter.kind);
    let sites = (await q.execute()).map(toSite);
    if (filter.q) {
      // In TypeScript rather than LIKE, which is case-blind in SQLite and not in PostgreSQL (and reads % and _ as wildcards).
      const needle = filter.q.toLowerCase();
      sites = sites.filter((s) => s.id.toLowerCase().includes(needle) || s.name.toLowerCase().includes(needle));
    }
    if (filter.areaIds) sites = sites.filter((s) => filter.areaIds!.has(s.areaId));
    // Sorted here: ids in code-unit order (SQLite's), whatever collation a PostgreSQL database has.
    return sites.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  }

  /**
   * Where every site is, retired ones included, and nothing else: what the
   * playlist distributor resolves its targets against at each refresh. Three
   * columns, no join: at 30,000 sites the full `list()` read holds the event
   * loop ~150 ms on SQLite (one synchronous read), this a fraction of it.
   */
  async placements(): Promise<Array<{ id: string; areaId: number; retired: boolean }>> {
    const rows = await this.db.selectFrom('sites').select(['id', 'area_id', 'retired_at']).execute();
    return rows.map((r) => ({ id: r.id, areaId: r.area_id, retired: r.retired_at !== null }));
  }

  /**
   * Register a site and issue its first credential. The credential's scrypt
   * hash is computed on libuv's thread pool, so registering sites does not
   * hold the event loop; the checks run again after it, in the transaction
   * that writes.
   */
  async create(input: SiteInput): Promise<{ site: Site; credential: IssuedCredential }> {
    const area = await this.areas.require(input.areaKey, this.defaultVersion());
    await this.placeNew(this.db, input, area);
    const secret = newSecret();
    const secretHash = await hashSecretAsync(secret, SITE_SECRET_COST);
    const t = this.now();
    const id = await this.db.transaction().execute(async (trx) => {
      // Again, in the transaction (and only on it: on SQLite a query outside would wait for this one to end): a site
      // with this id may have been made meanwhile, and lockArea refuses an area retired meanwhile. The area's row is
      // then held until the commit, so retiring it waits for this site and sees it (areas.ts).
      let { id } = await this.placeNew(trx, input, area);
      await lockArea(trx, area, 'areaKey');
      const values = {
        name: input.name,
        kind: input.kind,
        area_id: area.id,
        lat: input.lat ?? area.lat ?? null,
        lon: input.lon ?? area.lon ?? null,
        profile: input.profile ?? null,
        expected_devices: JSON.stringify(input.expectedDevices ?? []),
        monitor_mic: input.monitorMic ? 1 : 0,
        created_at: t,
        updated_at: t,
      };
      // ON CONFLICT DO NOTHING: on PostgreSQL a racing registration can take the id between the check and the
      // insert (the insert waits for it to commit); a given id is then refused, a generated one moves on to the
      // next free number, and the transaction stays usable.
      for (;;) {
        const row = await trx
          .insertInto('sites')
          .values({ id, ...values })
          .onConflict((oc) => oc.column('id').doNothing())
          .returning('id')
          .executeTakeFirst();
        if (row) break;
        if (input.id !== undefined) throw fail('LOANET_NAME_TAKEN', { thing: 'site', name: id });
        id = await this.nextId(trx, area, input.kind);
      }
      await this.insertCredential(trx, id, secret, secretHash, t);
      await noteRegistryChanges(trx, 'site', [id]);
      return id;
    });
    return { site: this.remember((await this.get(id))!), credential: { siteId: id, secret } };
  }

  /** The id a new site in `area` gets, or the refusal (retired area, bad or taken id). */
  private async placeNew(db: Executor, input: SiteInput, area: Area): Promise<{ id: string }> {
    if (area.retiredAt) throw fail('LOANET_REFERS_TO_RETIRED', { field: 'areaKey', thing: 'area', id: area.key });
    const id = input.id ?? (await this.nextId(db, area, input.kind));
    if (!isValidSiteId(id)) throw fail('LOANET_SITE_ID_FORMAT', { field: 'id', id });
    // A generated id was free when nextId looked; taken since by a racing registration, the insert moves on (create).
    if (input.id !== undefined && (await this.getIn(db, id))) throw fail('LOANET_NAME_TAKEN', { thing: 'site', name: id });
    return { id };
  }

  async update(id: string, patch: Partial<Omit<SiteInput, 'id'>>): Promise<Site> {
    const s = await this.require(id);
    if (s.retiredAt) throw fail('LOANET_RETIRED', { thing: 'site', id });
    let area: Area | undefined;
    if (patch.areaKey !== undefined) {
      area = await this.areas.require(patch.areaKey, this.defaultVersion());
      if (area.retiredAt) throw fail('LOANET_REFERS_TO_RETIRED', { field: 'areaKey', thing: 'area', id: area.key });
    }
    await this.db.transaction().execute(async (trx) => {
      if (area && area.id !== s.areaId) await lockArea(trx, area, 'areaKey');
      // Only while still active: a site retired since it was read stays retired.
      const r = await trx
        .updateTable('sites')
        .set({
          name: patch.name ?? s.name,
          kind: patch.kind ?? s.kind,
          area_id: area?.id ?? s.areaId,
          lat: patch.lat !== undefined ? patch.lat : s.lat,
          lon: patch.lon !== undefined ? patch.lon : s.lon,
          profile: patch.profile !== undefined ? patch.profile : s.profile,
          expected_devices: JSON.stringify(patch.expectedDevices ?? s.expectedDevices),
          monitor_mic: (patch.monitorMic ?? s.monitorMic) ? 1 : 0,
          updated_at: this.now(),
        })
        .where('id', '=', id)
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      if (r.numUpdatedRows === 0n) throw fail('LOANET_RETIRED', { thing: 'site', id });
      await noteRegistryChanges(trx, 'site', [id]);
    });
    return this.remember((await this.get(id))!);
  }

  /**
   * Issue a new credential; the old one stops working at once (its scrypt hash computed off the event loop, as in create).
   * `within` runs first in the same transaction, on it (an enrolment code spent for this credential): if it throws, nothing changes.
   */
  async rotateCredential(id: string, within?: (trx: Transaction<Database>) => Promise<void> | void): Promise<IssuedCredential> {
    await this.requireActive(id);
    const secret = newSecret();
    const secretHash = await hashSecretAsync(secret, SITE_SECRET_COST);
    const t = this.now();
    this.forget(id);
    await this.db.transaction().execute(async (trx) => {
      // Again, in the transaction, holding the site's row until the commit: the site may have been retired
      // meanwhile, and a retirement racing this one (PostgreSQL) waits for it and then revokes what it issued.
      const held = await trx
        .updateTable('sites')
        .set((eb) => ({ updated_at: eb.ref('updated_at') }))
        .where('id', '=', id)
        .where('retired_at', 'is', null)
        .executeTakeFirst();
      if (held.numUpdatedRows === 0n) throw fail('LOANET_RETIRED', { thing: 'site', id });
      await within?.(trx);
      await trx.updateTable('site_credentials').set({ revoked_at: t }).where('site_id', '=', id).where('revoked_at', 'is', null).execute();
      await this.insertCredential(trx, id, secret, secretHash, t);
      // The other servers drop the old credential from their caches at once, not after VERIFIED_TTL_MS.
      await noteRegistryChanges(trx, 'site', [id]);
    });
    this.forget(id);
    return { siteId: id, secret };
  }

  private async requireActive(id: string): Promise<void> {
    const s = await this.require(id);
    if (s.retiredAt) throw fail('LOANET_RETIRED', { thing: 'site', id });
  }

  /** Retire a site: its credential is revoked; its history stays. */
  async retire(id: string): Promise<Site> {
    const s = await this.require(id);
    if (s.retiredAt) return s;
    const t = this.now();
    this.forget(id);
    await this.db.transaction().execute(async (trx) => {
      const r = await trx.updateTable('sites').set({ retired_at: t, updated_at: t }).where('id', '=', id).where('retired_at', 'is', null).executeTakeFirst();
      // Retired by a racing request: its retirement stands, and revoked the credentials then.
      if (r.numUpdatedRows === 0n) return;
      await trx.updateTable('site_credentials').set({ revoked_at: t }).where('site_id', '=', id).where('revoked_at', 'is', null).execute();
      await noteRegistryChanges(trx, 'site', [id]);
    });
    this.forget(id);
    return this.remember((await this.get(id))!);
  }

  async verifyCredential(siteId: string, secret: string): Promise<boolean> {
    if (!isValidSiteId(siteId) || secret.length === 0 || secret.length > 256) return false;
    const digest = tokenDigest(`${siteId}\n${secret}`);
    const known = this.verified.get(siteId);
    if (known && known.digest === digest && this.now() - known.at < VERIFIED_TTL_MS) return true;
    const changes = this.credentialChanges;
    const row = await this.db
      .selectFrom('site_credentials as c')
      .innerJoin('sites as s', 's.id', 'c.site_id')
      .select(['c.id', 'c.secret_hash', 'c.secret_digest'])
      .where('c.site_id', '=', siteId)
      .where('c.revoked_at', 'is', null)
      .where('s.retired_at', 'is', null)
      .orderBy('c.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (!row) return false;
    let ok: boolean;
    if (row.secret_digest !== null) {
      ok = digestsEqual(row.secret_digest, digest);
    } else {
      // Issued before migration 8: scrypt once, then keep the digest for next time.
      ok = await verifySecret(secret, row.secret_hash);
      if (ok) await this.db.updateTable('site_credentials').set({ secret_digest: digest }).where('id', '=', row.id).where('secret_digest', 'is', null).execute();
    }
    // What was read may have been revoked while the check awaited the store: then the answer stands for that
    // instant, but is not kept.
    if (ok && changes === this.credentialChanges) this.verified.set(siteId, { digest, at: this.now() });
    return ok;
  }

  /**
   * The current credential of every active site as an external broker needs
   * it: its hash (`BrokerPasswordHasher`), or null for a credential issued
   * before schema 2 or by a repository given no hasher.
   */
  async brokerCredentials(): Promise<Array<{ siteId: string; areaId: number; mosquittoHash: string | null }>> {
    const rows = await this.db
      .selectFrom('sites as s')
      .select((eb) => [
        's.id as site_id',
        's.area_id',
        eb
          .selectFrom('site_credentials as c')
          .select('c.mosquitto_hash')
          .whereRef('c.site_id', '=', 's.id')
          .where('c.revoked_at', 'is', null)
          .orderBy('c.id', 'desc')
          .limit(1)
          .as('mosquitto_hash'),
      ])
      .where('s.retired_at', 'is', null)
      .execute();
    return rows.map((r) => ({ siteId: r.site_id, areaId: r.area_id, mosquittoHash: r.mosquitto_hash })).sort((x, y) => (x.siteId < y.siteId ? -1 : x.siteId > y.siteId ? 1 : 0));
  }

  private select(db: Executor) {
    return db.selectFrom('sites as s').innerJoin('areas as a', 'a.id', 's.area_id').selectAll('s').select(['a.version as area_version', 'a.code as area_code']);
  }

  private async getIn(db: Executor, id: string): Promise<Site | undefined> {
    const r = await this.select(db).where('s.id', '=', id).executeTakeFirst();
    return r && toSite(r);
  }

  /**
   * Every form is made now, the only time the plain secret is known: the
   * SHA-256 digest loanet checks (migration 8), scrypt (kept for credentials'
   * history and older servers; `secretHash`, computed by the caller off the
   * event loop), and the external broker's form (`brokerPasswordHash`).
   */
  private async insertCredential(trx: Transaction<Database>, siteId: string, secret: string, secretHash: string, t: number): Promise<void> {
    const brokerHash = this.brokerPasswordHash?.(secret) ?? null;
    await trx
      .insertInto('site_credentials')
      .values({ site_id: siteId, secret_hash: secretHash, mosquitto_hash: brokerHash, secret_digest: tokenDigest(`${siteId}\n${secret}`), created_at: t })
      .execute();
  }

  /** The site as read after a committed write, into `entries` unless a newer read is there already. */
  private remember(site: Site): Site {
    const known = this.entries?.get(site.id);
    if (this.entries && (!known || known.updatedAt <= site.updatedAt)) this.entries.set(site.id, entryOf(site));
    return site;
  }

  private forget(id: string): void {
    this.credentialChanges++;
    this.verified.delete(id);
  }

  /** `{areaCode}-st{n}` for stations, `{areaCode}-cl{n}` for clusters: readable in logs and topics. */
  private async nextId(db: Executor, area: Area, kind: SiteKind): Promise<string> {
    const prefix = `${area.code.toLowerCase()}-${kind === 'station' ? 'st' : 'cl'}`;
    for (let n = 1; ; n++) {
      const id = `${prefix}${n}`;
      if (!(await this.getIn(db, id))) return id;
    }
  }
}

function entryOf(s: Site): SiteEntry & { updatedAt: number } {
  return { id: s.id, name: s.name, areaId: s.areaId, areaKey: s.areaKey, retired: s.retiredAt !== null, updatedAt: s.updatedAt };
}

/** Constant-time comparison of two hex digests (a timing side channel must not reveal a prefix). */
function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
