/**
 * Rollouts and each targeted site (tables rollouts and rollout_sites,
 * migration 20). Everything a rollout is lives here, so a restart loses
 * nothing: its spec and targets as asked (JSON), its status and wave, and
 * per site its wave, where it stands, the site's latest report and the
 * server's own note (the `report` column holds both, as JSON). A rollout's
 * `reason` column holds its reason as JSON (code and params); rows written
 * before it held an English sentence, read back as the code it meant.
 */
import type { Insertable, Kysely, Selectable } from 'kysely';
import type { Database, RolloutSitesTable, RolloutsTable } from '../store/schema.ts';
import type { UpdateReport } from '../../protocol/index.ts';
import type { RolloutReason, RolloutSpec, RolloutStatus, SiteRolloutState } from './rollout.ts';

/** What a rollout was asked to do: the spec and the order's parameters, kept as asked. */
export interface RolloutPlan {
  spec: RolloutSpec;
  releaseId: string;
  targets: { areas: string[]; sites: string[]; profile: string | null };
  budgetBytes: number;
  healthTimeoutS: number;
  noReportS: number;
  /** Who asked for it (the users table may lose the name; the rollout keeps it). */
  createdByName?: string;
  /** Failures a person accepted by resuming (rollout.ts RolloutProgress.acknowledged). */
  acknowledged?: { wave: number; failed: number; finished: number };
}

export interface RolloutRow {
  id: string;
  releaseId: string;
  plan: RolloutPlan;
  status: RolloutStatus;
  wave: number;
  reason: RolloutReason | null;
  createdBy: number | null;
  createdAt: number;
  updatedAt: number;
}

/** The `report` column: the site's latest report, when it last moved, and the server's note. */
export interface SiteReportNote {
  last: UpdateReport | null;
  /** Server clock: when the report last changed state or bytes (what `no_report` counts from). */
  changedAt: number | null;
  /** Server clock: when a report was last heard. */
  heardAt: number | null;
  /** The server's own words when it failed the site (no_report), else the report's detail. */
  detail: string | null;
  /** Device firmware: the devices the order names. */
  devices?: string[];
}

export interface RolloutSiteRow {
  rolloutId: string;
  siteId: string;
  wave: number | null;
  state: SiteRolloutState;
  note: SiteReportNote;
  fromVersion: string | null;
  reason: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

/** An update attempt of a site that ended: updated, or failed (and why), with the release it tried. */
export interface FinishedUpdate {
  siteId: string;
  rolloutId: string;
  /** null: the release is gone from the releases table. */
  component: string | null;
  version: string | null;
  state: 'updated' | 'failed';
  reason: string | null;
  finishedAt: number;
}

/** Site ids per statement: well under either dialect's limit on bound parameters. */
const ID_CHUNK = 500;

type Row = Selectable<RolloutsTable>;

type SiteRow = Selectable<RolloutSitesTable>;

/** Rollouts that hold their sites and that a tick looks at. */
const OPEN = ['running', 'paused'] as const;
/** Rows per INSERT: 9 columns each, well under either dialect's limit on bound parameters. */
const INSERT_CHUNK = 500;

/** The English sentences the `reason` column held before it held codes (rollout.ts and service.ts wrote them so). */
const OLD_ERROR = /^(.*): (\d+) of (\d+) finished sites failed, over the error threshold of (\d+(?:\.\d+)?) %$/;
const OLD_SUCCESS = /^(.*) reached its success threshold; (.*) starts$/;
const OLD_BY = /^(pause|resume|abort) by (.+)$/;
const PERSON = { paused: 'paused_by', running: 'resumed_by', aborted: 'aborted_by' } as const;

/**
 * A stored reason: the JSON written now, or an older row's sentence turned
 * into the code it meant; a person's own words of an older row are kept as
 * theirs, the action read from the status it led to.
 */
export function readReason(text: string | null, status: RolloutStatus): RolloutReason | null {
  if (text === null || text === '') return null;
  if (text.startsWith('{')) {
    try {
      const r = JSON.parse(text) as RolloutReason;
      if (typeof r?.code === 'string' && typeof r.params === 'object' && r.params !== null) return r;
    } catch {
      // Not JSON after all: a person's words that begin with a brace.
    }
  }
  if (text === 'every wave reached its success threshold') return { code: 'completed', params: {} };
  let m = OLD_ERROR.exec(text);
  if (m) return { code: 'error_threshold', params: { wave: m[1]!, failed: Number(m[2]), finished: Number(m[3]), thresholdPct: Number(m[4]) } };
  m = OLD_SUCCESS.exec(text);
  if (m) return { code: 'success_threshold', params: { wave: m[1]!, next: m[2]! } };
  m = OLD_BY.exec(text);
  if (m) return { code: `${m[1] === 'pause' ? 'paused' : m[1] === 'resume' ? 'resumed' : 'aborted'}_by`, params: { by: m[2]!, text: null } };
  if (status === 'completed') return { code: 'completed', params: {} };
  return { code: PERSON[status], params: { by: null, text } };
}

const toRollout = (r: Row): RolloutRow => ({
  id: r.id,
  releaseId: r.release_id,
  plan: JSON.parse(r.spec) as RolloutPlan,
  status: r.status,
  wave: r.wave,
  reason: readReason(r.reason, r.status),
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const EMPTY_NOTE: SiteReportNote = { last: null, changedAt: null, heardAt: null, detail: null };

const toSite = (r: SiteRow): RolloutSiteRow => ({
  rolloutId: r.rollout_id,
  siteId: r.site_id,
  wave: r.wave,
  state: r.state,
  note: r.report ? { ...EMPTY_NOTE, ...(JSON.parse(r.report) as SiteReportNote) } : { ...EMPTY_NOTE },
  fromVersion: r.from_version,
  reason: r.reason,
  startedAt: r.started_at,
  finishedAt: r.finished_at,
});

/**
 * Every method is one statement or one transaction; the rollout service runs
 * its steps one at a time (service.ts serial), so a step's read and the write
 * that follows it see no other step of this server in between.
 */
export class RolloutStore {
  constructor(private readonly db: Kysely<Database>) {}

  async create(r: Omit<RolloutRow, 'updatedAt'>, sites: ReadonlyArray<Pick<RolloutSiteRow, 'siteId' | 'wave' | 'fromVersion'> & { devices?: string[] }>): Promise<void> {
    const rows: Array<Insertable<RolloutSitesTable>> = sites.map((s) => ({
      rollout_id: r.id,
      site_id: s.siteId,
      wave: s.wave,
      state: 'waiting',
      report: JSON.stringify({ ...EMPTY_NOTE, ...(s.devices ? { devices: s.devices } : {}) } satisfies SiteReportNote),
      from_version: s.fromVersion,
      reason: null,
      started_at: null,
      finished_at: null,
    }));
    await this.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('rollouts')
        .values({
          id: r.id,
          release_id: r.releaseId,
          spec: JSON.stringify(r.plan),
          status: r.status,
          wave: r.wave,
          reason: r.reason && JSON.stringify(r.reason),
          created_by: r.createdBy,
          created_at: r.createdAt,
          updated_at: r.createdAt,
        })
        .execute();
      // Several rows per statement: a rollout to the whole fleet is thousands of sites, one round trip each on PostgreSQL otherwise.
      for (let i = 0; i < rows.length; i += INSERT_CHUNK)
        await trx
          .insertInto('rollout_sites')
          .values(rows.slice(i, i + INSERT_CHUNK))
          .execute();
    });
  }

  async get(id: string): Promise<RolloutRow | undefined> {
    const r = await this.db.selectFrom('rollouts').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRollout(r) : undefined;
  }

  /** Newest first. */
  async list(limit = 200): Promise<RolloutRow[]> {
    return (await this.db.selectFrom('rollouts').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(limit).execute()).map(toRollout);
  }

  /** Rollouts still running or paused: the ones a tick looks at and that hold their sites. */
  async open(): Promise<RolloutRow[]> {
    return (await this.db.selectFrom('rollouts').selectAll().where('status', 'in', OPEN).orderBy('created_at').execute()).map(toRollout);
  }

  async setStatus(id: string, status: RolloutStatus, wave: number, reason: RolloutReason | null, at: number, plan?: RolloutPlan): Promise<void> {
    await this.db
      .updateTable('rollouts')
      .set({ status, wave, reason: reason && JSON.stringify(reason), updated_at: at, ...(plan ? { spec: JSON.stringify(plan) } : {}) })
      .where('id', '=', id)
      .execute();
  }

  async sites(rolloutId: string): Promise<RolloutSiteRow[]> {
    return (
      await this.db
        .selectFrom('rollout_sites')
        .selectAll()
        .where('rollout_id', '=', rolloutId)
        .orderBy('wave', (ob) => ob.asc().nullsFirst())
        .orderBy('site_id')
        .execute()
    ).map(toSite);
  }

  async site(rolloutId: string, siteId: string): Promise<RolloutSiteRow | undefined> {
    const r = await this.db.selectFrom('rollout_sites').selectAll().where('rollout_id', '=', rolloutId).where('site_id', '=', siteId).executeTakeFirst();
    return r ? toSite(r) : undefined;
  }

  async putSite(s: RolloutSiteRow): Promise<void> {
    await this.db
      .updateTable('rollout_sites')
      .set({
        state: s.state,
        report: JSON.stringify(s.note),
        from_version: s.fromVersion,
        reason: s.reason,
        started_at: s.startedAt,
        finished_at: s.finishedAt,
      })
      .where('rollout_id', '=', s.rolloutId)
      .where('site_id', '=', s.siteId)
      .execute();
  }

  /** Site → the open rollout (running or paused) that holds it (waiting or installing there). */
  async heldSites(): Promise<Map<string, string>> {
    const rows = await this.db
      .selectFrom('rollout_sites as rs')
      .innerJoin('rollouts as r', 'r.id', 'rs.rollout_id')
      .select(['rs.site_id as siteId', 'rs.rollout_id as rolloutId'])
      .where('r.status', 'in', OPEN)
      .where('rs.state', 'in', ['waiting', 'installing'])
      .execute();
    return new Map(rows.map((r) => [r.siteId, r.rolloutId]));
  }

  /** The sites with an attempt finished at or after `since` (server clock; migration 33's index). */
  async finishedSince(since: number): Promise<string[]> {
    const rows = await this.db.selectFrom('rollout_sites').select('site_id').distinct().where('finished_at', '>=', since).execute();
    return rows.map((r) => r.site_id);
  }

  /** Every finished attempt of these sites, with the release each tried. */
  async finishedOf(siteIds: readonly string[]): Promise<FinishedUpdate[]> {
    const out: FinishedUpdate[] = [];
    for (let i = 0; i < siteIds.length; i += ID_CHUNK) {
      const rows = await this.db
        .selectFrom('rollout_sites as rs')
        .innerJoin('rollouts as r', 'r.id', 'rs.rollout_id')
        .leftJoin('releases as rel', 'rel.id', 'r.release_id')
        .select(['rs.site_id', 'rs.rollout_id', 'rs.state', 'rs.reason', 'rs.finished_at', 'rel.component', 'rel.version'])
        .where('rs.site_id', 'in', siteIds.slice(i, i + ID_CHUNK))
        .where('rs.state', 'in', ['updated', 'failed'])
        .where('rs.finished_at', 'is not', null)
        .execute();
      for (const r of rows)
        out.push({
          siteId: r.site_id,
          rolloutId: r.rollout_id,
          component: r.component,
          version: r.version,
          state: r.state as FinishedUpdate['state'],
          reason: r.reason,
          finishedAt: Number(r.finished_at),
        });
    }
    return out;
  }

  /** Every site installing, whatever its rollout's status (an aborted rollout's sites hold a `cancel`). */
  async installing(): Promise<RolloutSiteRow[]> {
    return (await this.db.selectFrom('rollout_sites').selectAll().where('state', '=', 'installing').execute()).map(toSite);
  }
}
