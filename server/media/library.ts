/**
 * The media library: audio items every site can be sent, stored once as
 * `${dataDir}/media/<sha256>.opus` and described by a `media` row.
 *
 * An item is processed as a job: its input (an upload streamed to disk, or
 * a WAV from text to speech) goes through the ingest pipeline in
 * `media/tmp/`, the finished Opus file is renamed into place, and only then
 * is the row written. A job that fails or is aborted leaves neither file nor
 * row; its reason is kept in memory for a day so GET /api/media/{id} can say
 * why. Temp files left by a crash are removed at start.
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
import { MediaRejected } from './analysis.ts';
import { ingestAudio, type IngestResult, type Stage } from './ingest.ts';
import { findMediaTools, withProcessPriority, type MediaTools } from './tools.ts';
import { Errors, LoanetError } from '../errors.ts';
import { isDiskFullError } from '../store/disk-space.ts';

export type JobStage = Stage | 'queued' | 'receiving' | 'synthesizing';

export interface Actor {
  id: number;
  username: string;
}

export interface MediaMeta {
  title: string;
  lang: string;
  tags: string[];
}

/**
 * What an item was made for, fixed when it is made: `bulletin`, the library
 * operators schedule from, or `alert`, the audio of an emergency alert (its
 * text to speech, an upload or a CAP message's own audio), which the alert
 * reaches by id but which is never offered for a bulletin nor listed with
 * the bulletins (its words are another commune's emergency, often in another
 * language). Not a tag: tags are the operators' to edit.
 */
export type MediaPurpose = 'bulletin' | 'alert';

export interface MediaItem extends MediaMeta {
  id: string;
  status: 'ready';
  origin: 'upload' | 'tts';
  purpose: MediaPurpose;
  originalName: string | null;
  source: Record<string, unknown>;
  transcript: string | null;
  tts: Record<string, unknown> | null;
  sha256: string;
  bytes: number;
  durationMs: number;
  codec: string;
  sampleRate: number;
  channels: number;
  bitrateKbps: number;
  loudness: {
    targetLufs: number;
    inputLufs: number;
    inputTruePeak: number;
    inputRange: number;
    inputThreshold: number;
    gainDb: number;
    outputLufs: number;
    outputTruePeak: number;
  };
  createdBy: string | null;
  createdById: number | null;
  createdAt: number;
  updatedAt: number;
  retiredAt: number | null;
}

export interface JobView {
  id: string;
  status: 'processing' | 'failed';
  stage: JobStage;
  /** 0–100, over the whole pipeline. */
  percent: number;
  title: string;
  lang: string;
  origin: 'upload' | 'tts';
  purpose: MediaPurpose;
  createdAt: number;
  finishedAt: number | null;
  code: string | null;
  /** The code's parameters (a limit, a duration …) that the console words the failure from; `reason` is the English. */
  params: Record<string, string | number> | null;
  reason: string | null;
  statusCode: number | null;
}

interface Job {
  view: JobView;
  abort: AbortController;
  done: Promise<void>;
}

export interface SubmitInput {
  meta: MediaMeta;
  origin: 'upload' | 'tts';
  originalName?: string | null;
  /** Extra facts about what was given (size, the file's type as sent). */
  source?: Record<string, unknown>;
  transcript?: string | null;
  tts?: Record<string, unknown> | null;
  actor: Actor;
  /** The input file in `tmpDir`, or what makes it there; it is deleted when the job ends, whatever happens. */
  input: string | ((signal: AbortSignal) => Promise<string>);
  /** The stage shown while `input` runs. */
  inputStage?: JobStage;
  /** Which lane the job waits in (default `bulk`): see LANES. */
  lane?: Lane;
  /** What the item is for (default `bulletin`). */
  purpose?: MediaPurpose;
}

/**
 * Two lanes, each with its own slots: `alert` is for the audio of emergency
 * alerts only, so no amount of bulletin work (uploads, long text to speech)
 * can make an alert wait for a slot; `bulk` is everything else, with a
 * bounded queue so an operator cannot pile up unlimited work. Bulk jobs'
 * child processes (ffmpeg, espeak-ng) also run at a lower CPU priority, so on
 * a small machine an alert's encoding and the server's own event loop get the
 * cores first.
 */
export type Lane = 'alert' | 'bulk';

export const LANES: Record<Lane, { slots: number; nice: number }> = {
  alert: { slots: 2, nice: 0 },
  bulk: { slots: 2, nice: 10 },
};

/** A bulk job refused because its lane's queue is full: 503 naming the depth and the limit. */
export class MediaQueueFull extends LoanetError<'LOANET_MEDIA_QUEUE_FULL'> {
  constructor(running: number, waiting: number, limit: number) {
    super(
      'LOANET_MEDIA_QUEUE_FULL',
      {
        field: 'queue',
        text: `the media queue is full: ${running} jobs processing and ${waiting} waiting (at most ${limit} may wait, LOANET_MEDIA_QUEUE_MAX); try again when one has finished`,
      },
      { running, waiting, limit },
    );
  }
}

/** Refuses to retire an item still needed (the scheduler's hook): answers the reason, or null. */
export type RetireGuard = (mediaId: string) => string | null | Promise<string | null>;

const STAGE_SPAN: Record<JobStage, [number, number]> = {
  queued: [0, 0],
  receiving: [0, 0],
  synthesizing: [0, 5],
  probing: [5, 6],
  measuring: [6, 40],
  encoding: [40, 85],
  verifying: [85, 100],
};

const FAILED_KEPT_MS = 24 * 3600 * 1000;

/** A media row with its creator's username (LEFT JOIN users). */
type Row = Selectable<MediaTable> & { created_by_name: string | null };

export class MediaLibrary {
  readonly dir: string;
  readonly tmpDir: string;
  private readonly jobs = new Map<string, Job>();
  private readonly lanes: Record<Lane, { running: number; waiting: Array<() => void> }> = {
    alert: { running: 0, waiting: [] },
    bulk: { running: 0, waiting: [] },
  };
  private retireGuards: RetireGuard[] = [];
  /** Per SHA-256, the tail of the file-and-row steps queued on it (see the module's comment). */
  private readonly fileLocks = new Map<string, Promise<unknown>>();
  private tools: MediaTools | undefined;
  /** Ingest speed of the last finished job: media seconds per wall second. */
  lastSpeed: number | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    dataDir: string,
    readonly config: MediaConfig,
    private readonly audit: AuditLog,
    private readonly now: () => number = Date.now,
    private readonly log: { warn(o: object, m: string): void; error(o: object, m: string): void } = { warn() {}, error() {} },
  ) {
    this.dir = path.join(dataDir, 'media');
    this.tmpDir = path.join(this.dir, 'tmp');
    fs.mkdirSync(this.tmpDir, { recursive: true });
    // Whatever a crash left half-written is not in the library: remove it.
    for (const f of fs.readdirSync(this.tmpDir)) fs.rmSync(path.join(this.tmpDir, f), { force: true, recursive: true });
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
    return { running: this.lanes[lane].running, waiting: this.lanes[lane].waiting.length };
  }

  /**
   * Start processing; answers at once with the job (its id is the item's id
   * once ready). A bulk job that would wait behind `queueMax` others is
   * refused (MediaQueueFull) and its input file removed.
   */
  submit(input: SubmitInput, id = this.newId()): JobView {
    const tools = this.mediaTools();
    if (!('tools' in tools)) throw new Error(tools.missing);
    const lane = input.lane ?? 'bulk';
    const l = this.lanes[lane];
    if (lane === 'bulk' && l.running >= LANES.bulk.slots && l.waiting.length >= this.config.queueMax) {
      if (typeof input.input === 'string') fs.rmSync(input.input, { force: true });
      throw new MediaQueueFull(l.running, l.waiting.length, this.config.queueMax);
    }
    const abort = new AbortController();
    const view: JobView = {
      id,
      status: 'processing',
      stage: 'queued',
      percent: 0,
      title: input.meta.title,
      lang: input.meta.lang,
      origin: input.origin,
      purpose: input.purpose ?? 'bulletin',
      createdAt: this.now(),
      finishedAt: null,
      code: null,
      params: null,
      reason: null,
      statusCode: null,
    };
    const job: Job = { view, abort, done: Promise.resolve() };
    this.jobs.set(id, job);
    job.done = this.process(job, input, tools.tools);
    return { ...view };
  }

  private async slot(lane: Lane): Promise<void> {
    const l = this.lanes[lane];
    if (l.running < LANES[lane].slots) {
      l.running++;
      return;
    }
    await new Promise<void>((resolve) => l.waiting.push(resolve));
    l.running++;
  }

  private release(lane: Lane): void {
    const l = this.lanes[lane];
    l.running--;
    l.waiting.shift()?.();
  }

  private async process(job: Job, input: SubmitInput, tools: MediaTools): Promise<void> {
    const lane = input.lane ?? 'bulk';
    // Every child process the job starts (espeak-ng, ffprobe, ffmpeg) runs at its lane's CPU priority.
    await withProcessPriority(LANES[lane].nice, () => this.processIn(lane, job, input, tools));
  }

  private async processIn(lane: Lane, job: Job, input: SubmitInput, tools: MediaTools): Promise<void> {
    const v = job.view;
    const signal = job.abort.signal;
    const setStage = (stage: JobStage, fraction: number) => {
      const [a, b] = STAGE_SPAN[stage];
      v.stage = stage;
      v.percent = Math.max(v.percent, Math.min(99, Math.round(a + (b - a) * fraction)));
    };
    const out = path.join(this.tmpDir, `${v.id}.opus`);
    let inFile = typeof input.input === 'string' ? input.input : undefined;
    await this.slot(lane);
    try {
      if (signal.aborted) throw new Error('aborted');
      if (typeof input.input !== 'string') {
        setStage(input.inputStage ?? 'receiving', 0);
        inFile = await input.input(signal);
      }
      if (!inFile) throw new Error('no input file');
      const r = await ingestAudio(
        tools,
        inFile,
        out,
        { targetLufs: this.config.loudnessLufs, bitrateKbps: this.config.bitrateKbps, maxDurationS: this.config.maxDurationS },
        { signal, progress: setStage },
      );
      if (signal.aborted) throw new Error('aborted');
      await this.store(v.id, r, input);
      this.lastSpeed = r.durationMs / Math.max(1, r.elapsedMs);
      this.jobs.delete(v.id);
      // After the row and the job's end, as before the audit log was async: nothing waits between them.
      await this.audit.record(input.actor, 'media.create', v.id, {
        title: input.meta.title,
        lang: input.meta.lang,
        origin: input.origin,
        purpose: input.purpose ?? 'bulletin',
        sha256: r.sha256,
        durationMs: r.durationMs,
      });
    } catch (e) {
      v.status = 'failed';
      v.finishedAt = this.now();
      if (e instanceof MediaRejected) {
        v.code = e.code;
        v.params = e.params;
        v.reason = e.message;
        v.statusCode = e.statusCode;
      } else if (isDiskFullError(e)) {
        // The job's files are removed below; what is full and what to free, not "processing failed".
        const full = Errors.diskFull();
        v.code = full.code;
        v.reason = full.message;
        v.statusCode = full.statusCode;
        this.log.warn({ mediaId: v.id }, "media ingest stopped: the data folder's disk is full");
      } else {
        const aborted = signal.aborted;
        v.code = aborted ? 'LOANET_MEDIA_ABORTED' : 'LOANET_MEDIA_FAILED';
        v.reason = aborted ? 'processing was stopped (server shutting down, or the alert it was for ended)' : `processing failed: ${(e as Error).message}`;
        v.statusCode = aborted ? 503 : 500;
        if (!aborted) this.log.error({ err: e, mediaId: v.id }, 'media ingest failed');
      }
    } finally {
      this.release(lane);
      for (const f of [inFile, out]) if (f) fs.rmSync(f, { force: true });
    }
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
    const before = this.fileLocks.get(sha256) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.fileLocks.set(sha256, tail);
    // The map keeps only files with steps queued.
    void tail.then(() => {
      if (this.fileLocks.get(sha256) === tail) this.fileLocks.delete(sha256);
    });
    return run;
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

  private prune(): void {
    const cutoff = this.now() - FAILED_KEPT_MS;
    for (const [id, j] of this.jobs) if (j.view.finishedAt !== null && j.view.finishedAt < cutoff) this.jobs.delete(id);
  }

  /** The item, or its job while processing / after failing. */
  async get(id: string): Promise<MediaItem | JobView | undefined> {
    this.prune();
    const job = this.jobs.get(id);
    if (job) return { ...job.view };
    const row = await this.rows().where('m.id', '=', id).executeTakeFirst();
    return row ? toItem(row) : undefined;
  }

  async item(id: string): Promise<MediaItem | undefined> {
    const x = await this.get(id);
    return x && x.status === 'ready' ? x : undefined;
  }

  /** Resolves when the job has finished, or after `ms`, whichever is first. */
  async settle(id: string, ms: number): Promise<MediaItem | JobView | undefined> {
    const job = this.jobs.get(id);
    if (job && ms > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([job.done, new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
      clearTimeout(timer);
    }
    return this.get(id);
  }

  /** Stop one job (its temp files go with it); it ends failed LOANET_MEDIA_ABORTED. False when no such job is running. */
  abort(id: string): boolean {
    const j = this.jobs.get(id);
    if (j?.view.status !== 'processing') return false;
    j.abort.abort();
    return true;
  }

  /** Resolves when the job has finished (at once if it is not running): the item, or the failed job. */
  async finished(id: string): Promise<MediaItem | JobView | undefined> {
    await this.jobs.get(id)?.done;
    return this.get(id);
  }

  /** Jobs processing or failed, of one purpose when `purpose` is given. */
  processing(purpose?: MediaPurpose): JobView[] {
    this.prune();
    return [...this.jobs.values()].filter((j) => purpose === undefined || j.view.purpose === purpose).map((j) => ({ ...j.view }));
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
  async close(): Promise<void> {
    const jobs = [...this.jobs.values()];
    for (const j of jobs) j.abort.abort();
    await Promise.allSettled(jobs.map((j) => j.done));
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
