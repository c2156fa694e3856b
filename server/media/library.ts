/**
 * The media library: audio items every site can be sent, stored once as
 * `${dataDir}/media/<sha256>.opus` and described by a `media` row.
 *
 * An item is processed as a job (ingest-jobs.ts): its input goes through the
 * ingest pipeline in `media/tmp/`, the finished Opus file is renamed into
 * place here, and only then is the row written. Temp files left by a crash
 * are removed at start.
 *
 * Items that sound alike share one file (same SHA-256). A file is removed
 * only when no live row refers to it, and a new row's file is put in place
 * before the row is written; both steps read the rows and then change the
 * folder, so they run one at a time per SHA-256 (`exclusive`): a retire
 * cannot remove the file a new row is about to refer to. (Servers sharing a
 * PostgreSQL store each keep their own data folder.)
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Kysely, PostgresAdapter, type Selectable, sql } from 'kysely';
import type { Database, MediaTable } from '../store/schema.ts';
import type { MediaConfig } from '../config.ts';
import type { AuditLog } from '../audit.ts';
import { KeyedSerial } from '../keyed-serial.ts';
import type { IngestResult } from './ingest.ts';
import { IngestJobs, type JobView, type Lane, type SubmitInput } from './ingest-jobs.ts';
import type { Actor, MediaItem, MediaMeta, MediaPurpose } from './model.ts';
import { findMediaTools, type MediaTools } from './tools.ts';

// The library is the media feature's front: its callers name these from here.
export type { Actor, MediaItem, MediaMeta, MediaPurpose } from './model.ts';
export { LANES, MediaQueueFull, type JobStage, type JobView, type Lane, type SubmitInput } from './ingest-jobs.ts';

/** Refuses to retire an item still needed (the scheduler's hook): answers the reason, or null. */
export type RetireGuard = (mediaId: string) => string | null | Promise<string | null>;

/** A media row with its creator's username (LEFT JOIN users). */
type Row = Selectable<MediaTable> & { created_by_name: string | null };

export class MediaLibrary {
  readonly dir: string;
  readonly tmpDir: string;
  private readonly jobs: IngestJobs;
  private retireGuards: RetireGuard[] = [];
  /** Per SHA-256, the file-and-row steps queued on it (see the module's comment). */
  private readonly fileSteps = new KeyedSerial();
  private tools: MediaTools | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    dataDir: string,
    readonly config: MediaConfig,
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
    log: { warn(o: object, m: string): void; error(o: object, m: string): void } = { warn() {}, error() {} },
  ) {
    this.dir = path.join(dataDir, 'media');
    this.tmpDir = path.join(this.dir, 'tmp');
    fs.mkdirSync(this.tmpDir, { recursive: true });
    // Whatever a crash left half-written is not in the library: remove it.
    for (const f of fs.readdirSync(this.tmpDir)) fs.rmSync(path.join(this.tmpDir, f), { force: true, recursive: true });
    this.jobs = new IngestJobs({ tmpDir: this.tmpDir, config, audit, now, log, store: (id, r, input) => this.store(id, r, input) });
  }

  /** Ingest speed of the last finished job: media seconds per wall second. */
  get lastSpeed(): number | undefined {
    return this.jobs.lastSpeed;
  }

  /** ffmpeg and ffprobe, or why they are missing (found once, then kept). */
  mediaTools(): { tools: MediaTools } | { missing: string } {
    if (this.tools) return { tools: this.tools };
    const found = findMediaTools({ ffmpegPath: this.config.ffmpegPath, ffprobePath: this.config.ffprobePath });
    if ('tools' in found) this.tools = found.tools;
    return found;
  }

  /** A fresh path in the temp folder. */
  tempPath(suffix: string): string {
    return path.join(this.tmpDir, `${randomBytes(9).toString('base64url')}${suffix}`);
  }

  newId(): string {
    return `med-${randomBytes(8).toString('hex')}`;
  }

  addRetireGuard(g: RetireGuard): void {
    this.retireGuards.push(g);
  }

  /** Jobs processing and waiting in a lane (for /api/health and the refusal). */
  laneLoad(lane: Lane): { running: number; waiting: number } {
    return this.jobs.laneLoad(lane);
  }

  /**
   * Start processing; answers at once with the job (its id is the item's id
   * once ready). A bulk job that would wait behind `queueMax` others is
   * refused (MediaQueueFull) and its input file removed.
   */
  submit(input: SubmitInput, id = this.newId()): JobView {
    const tools = this.mediaTools();
    if (!('tools' in tools)) throw new Error(tools.missing);
    return this.jobs.submit(input, id, tools.tools);
  }

  /** Move the finished file into place and write the row, with no retire of the same file in between. */
  private store(id: string, r: IngestResult, input: SubmitInput): Promise<void> {
    return this.exclusive(r.sha256, async () => {
      const final = this.fileOf(r.sha256);
      const existed = fs.existsSync(final);
      if (!existed) fs.renameSync(r.file, final);
      const t = this.now();
      try {
        await this.db
          .insertInto('media')
          .values({
            id,
            title: input.meta.title,
            lang: input.meta.lang,
            tags: JSON.stringify(input.meta.tags),
            origin: input.origin,
            purpose: input.purpose ?? 'bulletin',
            original_name: input.originalName ?? null,
            source: JSON.stringify({ ...r.source, ...(input.source ?? {}) }),
            transcript: input.transcript ?? null,
            tts: input.tts ? JSON.stringify(input.tts) : null,
            sha256: r.sha256,
            bytes: r.bytes,
            duration_ms: r.durationMs,
            codec: r.stored.codec,
            sample_rate: r.stored.sampleRate,
            channels: r.stored.channels,
            bitrate_kbps: r.stored.bitrateKbps,
            target_lufs: this.config.loudnessLufs,
            input_lufs: r.input.i,
            input_tp: r.input.tp,
            input_lra: r.input.lra,
            input_thresh: r.input.thresh,
            gain_db: r.gainDb,
            output_lufs: r.output.i,
            output_tp: r.output.tp,
            created_by: input.actor.id,
            created_at: t,
            updated_at: t,
          })
          .execute();
      } catch (e) {
        // No row refers to the file this job put in place: it goes, as the job's temp files do.
        if (!existed && !(await this.shaInUse(r.sha256).catch(() => true))) fs.rmSync(final, { force: true });
        throw e;
      }
    });
  }

  /** Run `fn` after every step queued before it on the same file (SHA-256), and before any queued after. */
  private exclusive<T>(sha256: string, fn: () => Promise<T>): Promise<T> {
    return this.fileSteps.run(sha256, fn);
  }

  fileOf(sha256: string): string {
    return path.join(this.dir, `${sha256}.opus`);
  }

  private async shaInUse(sha256: string): Promise<boolean> {
    const r = await this.db.selectFrom('media').select('id').where('sha256', '=', sha256).where('retired_at', 'is', null).limit(1).executeTakeFirst();
    return r !== undefined;
  }

  /** Media rows with their creator's username. */
  private rows() {
    return this.db.selectFrom('media as m').leftJoin('users as u', 'u.id', 'm.created_by').selectAll('m').select('u.username as created_by_name');
  }

  /** The item, or its job while processing / after failing. */
  async get(id: string): Promise<MediaItem | JobView | undefined> {
    const job = this.jobs.view(id);
    if (job) return job;
    const row = await this.rows().where('m.id', '=', id).executeTakeFirst();
    return row ? toItem(row) : undefined;
  }

  async item(id: string): Promise<MediaItem | undefined> {
    const x = await this.get(id);
    return x && x.status === 'ready' ? x : undefined;
  }

  /** Resolves when the job has finished, or after `ms`, whichever is first. */
  async settle(id: string, ms: number): Promise<MediaItem | JobView | undefined> {
    const done = this.jobs.done(id);
    if (done && ms > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
      clearTimeout(timer);
    }
    return this.get(id);
  }

  /** Stop one job (its temp files go with it); it ends failed LOANET_MEDIA_ABORTED. False when no such job is running. */
  abort(id: string): boolean {
    return this.jobs.abort(id);
  }

  /** Resolves when the job has finished (at once if it is not running): the item, or the failed job. */
  async finished(id: string): Promise<MediaItem | JobView | undefined> {
    await this.jobs.done(id);
    return this.get(id);
  }

  /** Jobs processing or failed, of one purpose when `purpose` is given. */
  processing(purpose?: MediaPurpose): JobView[] {
    return this.jobs.list(purpose);
  }

  /**
   * Items, newest first; `purpose`: only those made for it (every item when
   * left out); `hide`: ids left out (what the reader may not see), counted
   * out of `total` too.
   */
  async list(
    f: {
      q?: string;
      lang?: string;
      tag?: string;
      origin?: string;
      purpose?: MediaPurpose;
      includeRetired?: boolean;
      limit?: number;
      offset?: number;
      hide?: ReadonlySet<string>;
    } = {},
  ): Promise<{ total: number; items: MediaItem[] }> {
    let q = this.db.selectFrom('media as m');
    if (!f.includeRetired) q = q.where('m.retired_at', 'is', null);
    if (f.purpose) q = q.where('m.purpose', '=', f.purpose);
    if (f.hide?.size) q = q.where('m.id', 'not in', [...f.hide]);
    if (f.q) {
      // Case-blind in both dialects as SQLite's LIKE was (it folds ASCII only; PostgreSQL's lower() folds Vietnamese too).
      const p = like(f.q);
      q = q.where(sql<boolean>`(lower(m.title) LIKE lower(${p}) ESCAPE '\\' OR lower(m.transcript) LIKE lower(${p}) ESCAPE '\\')`);
    }
    if (f.lang) {
      const lang = f.lang;
      // The tag or one of its subtags (`hmn` finds `hmn-VN`); tags are letters, digits and hyphens (langOf), never a wildcard.
      q = q.where((eb) => eb.or([eb(eb.fn('lower', ['m.lang']), '=', lang.toLowerCase()), eb(eb.fn('lower', ['m.lang']), 'like', `${lang.toLowerCase()}-%`)]));
    }
    if (f.tag) {
      // Tags are a JSON array of strings: an exact element, read with each dialect's own JSON functions.
      const tag = f.tag;
      q = q.where(
        isPostgres(this.db)
          ? sql<boolean>`EXISTS (SELECT 1 FROM jsonb_array_elements_text(m.tags::jsonb) AS t(value) WHERE t.value = ${tag})`
          : sql<boolean>`EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = ${tag})`,
      );
    }
    if (f.origin) q = q.where('m.origin', '=', f.origin as 'upload' | 'tts');
    const [count, rows] = await Promise.all([
      q.select((eb) => eb.fn.countAll<number | string>().as('n')).executeTakeFirstOrThrow(),
      q
        .leftJoin('users as u', 'u.id', 'm.created_by')
        .selectAll('m')
        .select('u.username as created_by_name')
        .orderBy('m.created_at', 'desc')
        .orderBy('m.id')
        .limit(f.limit ?? 100)
        .offset(f.offset ?? 0)
        .execute(),
    ]);
    // COUNT is a BIGINT in PostgreSQL: whatever the driver hands back, a number.
    return { total: Number(count.n), items: rows.map(toItem) };
  }

  async update(id: string, patch: Partial<MediaMeta>, actor: Actor): Promise<MediaItem> {
    const set: { title?: string; lang?: string; tags?: string } = {};
    if (patch.title !== undefined) set.title = patch.title;
    if (patch.lang !== undefined) set.lang = patch.lang;
    if (patch.tags !== undefined) set.tags = JSON.stringify(patch.tags);
    if (Object.keys(set).length) {
      await this.db
        .updateTable('media')
        .set({ ...set, updated_at: this.now() })
        .where('id', '=', id)
        .execute();
      await this.audit.record(actor, 'media.update', id, patch as Record<string, unknown>);
    }
    return (await this.item(id))!;
  }

  /** Why it cannot be retired now (scheduled, …), or null. */
  async retireBlocker(id: string): Promise<string | null> {
    for (const g of this.retireGuards) {
      const why = await g(id);
      if (why) return why;
    }
    return null;
  }

  /** Retire: the row stays (history refers to it), the file goes when no other live item shares it. */
  async retire(id: string, actor: Actor): Promise<MediaItem> {
    const item = (await this.item(id))!;
    // Only a live row is retired: of two retires at once, one does it and is audited; the other answers the retired item.
    const retired = await this.exclusive(item.sha256, async () => {
      const t = this.now();
      const r = await this.db.updateTable('media').set({ retired_at: t, updated_at: t }).where('id', '=', id).where('retired_at', 'is', null).executeTakeFirst();
      if (r.numUpdatedRows === 0n) return false;
      if (!(await this.shaInUse(item.sha256))) fs.rmSync(this.fileOf(item.sha256), { force: true });
      return true;
    });
    if (retired) await this.audit.record(actor, 'media.retire', id, { title: item.title });
    return (await this.item(id))!;
  }

  /** Stop every job (their temp files go with them) and wait for them to end. */
  close(): Promise<void> {
    return this.jobs.close();
  }
}

/** `s` anywhere, as a LIKE pattern with ESCAPE '\': its own %, _ and \ taken literally. */
function like(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => '\\' + c)}%`;
}

/** Which dialect a Kysely instance speaks (its adapter is what compiles for it). */
function isPostgres(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

function toItem(r: Row): MediaItem {
  return {
    id: r.id,
    status: 'ready',
    title: r.title,
    lang: r.lang,
    tags: JSON.parse(r.tags) as string[],
    origin: r.origin,
    purpose: r.purpose,
    originalName: r.original_name,
    source: JSON.parse(r.source) as Record<string, unknown>,
    transcript: r.transcript,
    tts: r.tts ? (JSON.parse(r.tts) as Record<string, unknown>) : null,
    sha256: r.sha256,
    bytes: r.bytes,
    durationMs: r.duration_ms,
    codec: r.codec,
    sampleRate: r.sample_rate,
    channels: r.channels,
    bitrateKbps: r.bitrate_kbps,
    loudness: {
      targetLufs: r.target_lufs,
      inputLufs: r.input_lufs,
      inputTruePeak: r.input_tp,
      inputRange: r.input_lra,
      inputThreshold: r.input_thresh,
      gainDb: r.gain_db,
      outputLufs: r.output_lufs,
      outputTruePeak: r.output_tp,
    },
    createdBy: r.created_by_name,
    createdById: r.created_by,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    retiredAt: r.retired_at,
  };
}
