/**
 * Rollouts and each targeted site (tables rollouts and rollout_sites,
 * migration 20). Everything a rollout is lives here, so a restart loses
 * nothing: its spec and targets as asked (JSON), its status and wave, and
 * per site its wave, where it stands, the site's latest report and the
 * server's own note (the `report` column holds both, as JSON). A rollout's
 * `reason` column holds its reason as JSON (code and params); rows written
 * before it held an English sentence, read back as the code it meant.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from '../store/db.ts';
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

interface Row {
  id: string;
  release_id: string;
  spec: string;
  status: RolloutStatus;
  wave: number;
  reason: string | null;
  created_by: number | null;
  created_at: number;
  updated_at: number;
}

interface SiteRow {
  rollout_id: string;
  site_id: string;
  wave: number | null;
  state: SiteRolloutState;
  report: string | null;
  from_version: string | null;
  reason: string | null;
  started_at: number | null;
  finished_at: number | null;
}

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

export class RolloutStore {
  private readonly insertSite: Statement;
  private readonly putSiteStmt: Statement;
  private readonly getStmt: Statement<[string]>;
  private readonly sitesStmt: Statement<[string]>;

  constructor(private readonly db: Db) {
    this.insertSite = db.prepare(
      `INSERT INTO rollout_sites (rollout_id, site_id, wave, state, report, from_version, reason, started_at, finished_at)
       VALUES (@rolloutId, @siteId, @wave, @state, @report, @fromVersion, @reason, @startedAt, @finishedAt)`,
    );
    this.putSiteStmt = db.prepare(
      `UPDATE rollout_sites SET state = @state, report = @report, from_version = @fromVersion, reason = @reason, started_at = @startedAt, finished_at = @finishedAt
       WHERE rollout_id = @rolloutId AND site_id = @siteId`,
    );
    this.getStmt = db.prepare('SELECT * FROM rollouts WHERE id = ?');
    this.sitesStmt = db.prepare('SELECT * FROM rollout_sites WHERE rollout_id = ? ORDER BY wave, site_id');
  }

  create(r: Omit<RolloutRow, 'updatedAt'>, sites: ReadonlyArray<Pick<RolloutSiteRow, 'siteId' | 'wave' | 'fromVersion'> & { devices?: string[] }>): void {
    this.db.transaction(() => {
      this.db
        .prepare('INSERT INTO rollouts (id, release_id, spec, status, wave, reason, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(r.id, r.releaseId, JSON.stringify(r.plan), r.status, r.wave, r.reason && JSON.stringify(r.reason), r.createdBy, r.createdAt, r.createdAt);
      for (const s of sites) {
        const note: SiteReportNote = { ...EMPTY_NOTE, ...(s.devices ? { devices: s.devices } : {}) };
        this.insertSite.run({
          rolloutId: r.id,
          siteId: s.siteId,
          wave: s.wave,
          state: 'waiting',
          report: JSON.stringify(note),
          fromVersion: s.fromVersion,
          reason: null,
          startedAt: null,
          finishedAt: null,
        });
      }
    })();
  }

  get(id: string): RolloutRow | undefined {
    const r = this.getStmt.get(id) as Row | undefined;
    return r ? toRollout(r) : undefined;
  }

  /** Newest first. */
  list(limit = 200): RolloutRow[] {
    return (this.db.prepare('SELECT * FROM rollouts ORDER BY created_at DESC, id LIMIT ?').all(limit) as Row[]).map(toRollout);
  }

  /** Rollouts still running or paused: the ones a tick looks at and that hold their sites. */
  open(): RolloutRow[] {
    return (this.db.prepare("SELECT * FROM rollouts WHERE status IN ('running','paused') ORDER BY created_at").all() as Row[]).map(toRollout);
  }

  setStatus(id: string, status: RolloutStatus, wave: number, reason: RolloutReason | null, at: number, plan?: RolloutPlan): void {
    const why = reason && JSON.stringify(reason);
    if (plan) this.db.prepare('UPDATE rollouts SET status = ?, wave = ?, reason = ?, spec = ?, updated_at = ? WHERE id = ?').run(status, wave, why, JSON.stringify(plan), at, id);
    else this.db.prepare('UPDATE rollouts SET status = ?, wave = ?, reason = ?, updated_at = ? WHERE id = ?').run(status, wave, why, at, id);
  }

  sites(rolloutId: string): RolloutSiteRow[] {
    return (this.sitesStmt.all(rolloutId) as SiteRow[]).map(toSite);
  }

  site(rolloutId: string, siteId: string): RolloutSiteRow | undefined {
    const r = this.db.prepare('SELECT * FROM rollout_sites WHERE rollout_id = ? AND site_id = ?').get(rolloutId, siteId) as SiteRow | undefined;
    return r ? toSite(r) : undefined;
  }

  putSite(s: RolloutSiteRow): void {
    this.putSiteStmt.run({
      rolloutId: s.rolloutId,
      siteId: s.siteId,
      state: s.state,
      report: JSON.stringify(s.note),
      fromVersion: s.fromVersion,
      reason: s.reason,
      startedAt: s.startedAt,
      finishedAt: s.finishedAt,
    });
  }

  /** Site → the open rollout (running or paused) that holds it (waiting or installing there). */
  heldSites(): Map<string, string> {
    const rows = this.db
      .prepare(
        `SELECT rs.site_id AS siteId, rs.rollout_id AS rolloutId FROM rollout_sites rs JOIN rollouts r ON r.id = rs.rollout_id
         WHERE r.status IN ('running','paused') AND rs.state IN ('waiting','installing')`,
      )
      .all() as Array<{ siteId: string; rolloutId: string }>;
    return new Map(rows.map((r) => [r.siteId, r.rolloutId]));
  }

  /** Every site installing, whatever its rollout's status (an aborted rollout's sites hold a `cancel`). */
  installing(): RolloutSiteRow[] {
    return (this.db.prepare("SELECT * FROM rollout_sites WHERE state = 'installing'").all() as SiteRow[]).map(toSite);
  }
}
