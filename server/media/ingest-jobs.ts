/**
 * The media library's ingest jobs: each input (an upload streamed to disk, or
 * a WAV from text to speech) waits for a slot in its lane, goes through the
 * ingest pipeline (ffprobe, loudness measurement, ffmpeg normalisation to
 * Opus, verification) in the temp folder, and is handed to the library to be
 * put in place and recorded. A job that fails or is aborted leaves neither
 * file nor row (its temp files are removed whatever happens); its reason is
 * kept in memory for a day so GET /api/media/{id} can say why.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AuditLog } from '../audit.ts';
import type { MediaConfig } from '../config.ts';
import { Errors, LoanetError } from '../errors.ts';
import { isDiskFullError } from '../store/disk-space.ts';
import { MediaRejected } from './analysis.ts';
import { ingestAudio, type IngestResult, type Stage } from './ingest.ts';
import type { Actor, MediaMeta, MediaPurpose } from './model.ts';
import { withProcessPriority, type MediaTools } from './tools.ts';

export type JobStage = Stage | 'queued' | 'receiving' | 'synthesizing';

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

export interface IngestJobsDeps {
  /** Where jobs write their output; their inputs are there too. */
  tmpDir: string;
  config: MediaConfig;
  audit: AuditLog;
  now: () => number;
  log: { warn(o: object, m: string): void; error(o: object, m: string): void };
  /** Put a finished job's file in place and write its row (the library's, one at a time per file). */
  store: (id: string, r: IngestResult, input: SubmitInput) => Promise<void>;
}

export class IngestJobs {
  /** Jobs processing, and failed ones for FAILED_KEPT_MS; a job that made its item is removed. */
  private readonly jobs = new Map<string, Job>();
  private readonly lanes: Record<Lane, { running: number; waiting: Array<() => void> }> = {
    alert: { running: 0, waiting: [] },
    bulk: { running: 0, waiting: [] },
  };
  /** Ingest speed of the last finished job: media seconds per wall second. */
  lastSpeed: number | undefined;

  constructor(private readonly d: IngestJobsDeps) {}

  /** Jobs processing and waiting in a lane (for /api/health and the refusal). */
  laneLoad(lane: Lane): { running: number; waiting: number } {
    return { running: this.lanes[lane].running, waiting: this.lanes[lane].waiting.length };
  }

  /**
   * Start processing with `tools`; answers at once with the job. A bulk job
   * that would wait behind `queueMax` others is refused (MediaQueueFull) and
   * its input file removed.
   */
  submit(input: SubmitInput, id: string, tools: MediaTools): JobView {
    const lane = input.lane ?? 'bulk';
    const l = this.lanes[lane];
    if (lane === 'bulk' && l.running >= LANES.bulk.slots && l.waiting.length >= this.d.config.queueMax) {
      if (typeof input.input === 'string') fs.rmSync(input.input, { force: true });
      throw new MediaQueueFull(l.running, l.waiting.length, this.d.config.queueMax);
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
      createdAt: this.d.now(),
      finishedAt: null,
      code: null,
      params: null,
      reason: null,
      statusCode: null,
    };
    const job: Job = { view, abort, done: Promise.resolve() };
    this.jobs.set(id, job);
    job.done = this.process(job, input, tools);
    return { ...view };
  }

  /** The job while processing or after failing (a copy), or undefined. */
  view(id: string): JobView | undefined {
    this.prune();
    const job = this.jobs.get(id);
    return job ? { ...job.view } : undefined;
  }

  /** Settles when the job has ended; undefined when there is no such job. */
  done(id: string): Promise<void> | undefined {
    return this.jobs.get(id)?.done;
  }

  /** Stop one job (its temp files go with it); it ends failed LOANET_MEDIA_ABORTED. False when no such job is running. */
  abort(id: string): boolean {
    const j = this.jobs.get(id);
    if (j?.view.status !== 'processing') return false;
    j.abort.abort();
    return true;
  }

  /** Jobs processing or failed, of one purpose when `purpose` is given. */
  list(purpose?: MediaPurpose): JobView[] {
    this.prune();
    return [...this.jobs.values()].filter((j) => purpose === undefined || j.view.purpose === purpose).map((j) => ({ ...j.view }));
  }

  /** Stop every job (their temp files go with them) and wait for them to end. */
  async close(): Promise<void> {
    const jobs = [...this.jobs.values()];
    for (const j of jobs) j.abort.abort();
    await Promise.allSettled(jobs.map((j) => j.done));
  }

  private prune(): void {
    const cutoff = this.d.now() - FAILED_KEPT_MS;
    for (const [id, j] of this.jobs) if (j.view.finishedAt !== null && j.view.finishedAt < cutoff) this.jobs.delete(id);
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
    const out = path.join(this.d.tmpDir, `${v.id}.opus`);
    let inFile = typeof input.input === 'string' ? input.input : undefined;
    await this.slot(lane);
    try {
      if (signal.aborted) throw new Error('aborted');
      if (typeof input.input !== 'string') {
        setStage(input.inputStage ?? 'receiving', 0);
        inFile = await input.input(signal);
      }
      if (!inFile) throw new Error('no input file');
      const config = this.d.config;
      const r = await ingestAudio(
        tools,
        inFile,
        out,
        { targetLufs: config.loudnessLufs, bitrateKbps: config.bitrateKbps, maxDurationS: config.maxDurationS },
        { signal, progress: setStage },
      );
      if (signal.aborted) throw new Error('aborted');
      await this.d.store(v.id, r, input);
      this.lastSpeed = r.durationMs / Math.max(1, r.elapsedMs);
      this.jobs.delete(v.id);
      // After the row and the job's end, as before the audit log was async: nothing waits between them.
      await this.d.audit.record(input.actor, 'media.create', v.id, {
        title: input.meta.title,
        lang: input.meta.lang,
        origin: input.origin,
        purpose: input.purpose ?? 'bulletin',
        sha256: r.sha256,
        durationMs: r.durationMs,
      });
    } catch (e) {
      v.status = 'failed';
      v.finishedAt = this.d.now();
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
        this.d.log.warn({ mediaId: v.id }, "media ingest stopped: the data folder's disk is full");
      } else {
        const aborted = signal.aborted;
        v.code = aborted ? 'LOANET_MEDIA_ABORTED' : 'LOANET_MEDIA_FAILED';
        v.reason = aborted ? 'processing was stopped (server shutting down, or the alert it was for ended)' : `processing failed: ${(e as Error).message}`;
        v.statusCode = aborted ? 503 : 500;
        if (!aborted) this.d.log.error({ err: e, mediaId: v.id }, 'media ingest failed');
      }
    } finally {
      this.release(lane);
      for (const f of [inFile, out]) if (f) fs.rmSync(f, { force: true });
    }
  }
}
