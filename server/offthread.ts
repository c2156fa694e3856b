/**
 * Runs a CPU-heavy function over untrusted input (unzipping a .docx, parsing
 * a large CAP document) in a worker thread, so the event loop that serves
 * HTTP, the MQTT broker and the alert path stays free whatever the input.
 *
 * One fresh worker per task: a hostile input that exhausts the worker's heap
 * or never finishes costs that worker only (it is terminated at the deadline
 * or dies at its heap limit), and no state leaks from one input to the next.
 * Tasks run in lanes, each with its own number of workers (`LANES`): a
 * CAP alert being parsed never waits behind uploaded documents, and the
 * uploads take at most one core whatever arrives; the others wait their turn.
 *
 * The function named by `fn` must be an export of `moduleUrl` taking one
 * structured-cloneable input and answering a structured-cloneable result. An
 * error it throws comes back as `OffThreadError` with its `code`, `statusCode`
 * and `details` when it had them.
 */
import { Worker } from 'node:worker_threads';
import { serverScript } from './files.ts';
import { STAT_FIELD, statCpuMs } from './proc-stat.ts';

const ENTRY = serverScript(new URL('./offthread-worker.mjs', import.meta.url));

/** Workers at once per lane; more tasks wait. */
export const LANES = { alert: 2, media: 1 } as const;
/**
 * Nice value of a lane's worker thread (Linux schedules threads apart): an
 * uploaded document's unzip is bulk work, like the bulletins' ffmpeg, and must
 * not take a core from the event loop that publishes alerts; CAP parsing is
 * the alert path and keeps the server's own priority.
 */
export const LANE_NICE: Record<keyof typeof LANES, number> = { alert: 0, media: 10 };
export type Lane = keyof typeof LANES;

/** A task's wall-clock bound, as a multiple of its CPU allowance: whatever the load, a task ends. */
export const WALL_FACTOR = 10;
/** How often a running task's CPU time is read. */
const CPU_CHECK_MS = 250;

/** CPU time (ms) a thread of this process has used, or undefined where it cannot be read (gone, or not Linux). */
export function threadCpuMs(tid: number): number | undefined {
  return statCpuMs(`/proc/self/task/${tid}/stat`, STAT_FIELD.utime, STAT_FIELD.stime);
}

export interface OffThreadOptions {
  /**
   * CPU time the task may use (ms): its worker thread's own, read from /proc
   * on Linux, so a task the scheduler starves on a busy server (the media lane
   * runs at nice 10) is not refused for the server's load, only for its own
   * work. Elsewhere it is wall-clock time from when the task starts. Either
   * way the task is stopped after WALL_FACTOR times this in wall-clock time.
   */
  timeoutMs: number;
  /** Heap limit of the worker (MB of V8 old generation). */
  maxHeapMb: number;
  /** Buffers moved to the worker instead of copied (the caller must not use them afterwards). */
  transfer?: ArrayBuffer[];
  lane: Lane;
}

export class OffThreadError extends Error {
  constructor(
    message: string,
    /** The thrown error's code; 'LOANET_OFFTHREAD_TIMEOUT' or 'LOANET_OFFTHREAD_MEMORY' when the worker was stopped, 'LOANET_OFFTHREAD_FAILED' when it broke. */
    readonly code: string | undefined,
    readonly statusCode: number | undefined,
    readonly details: Record<string, unknown> | undefined,
    /** A catalogue error's parameters, when the task threw one. */
    readonly params?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'OffThreadError';
  }
}

/** Where a broken worker's own words go: the server's log (server.ts), never the client. */
let internalLog: ((what: { err: string; moduleUrl: string; fn: string }, msg: string) => void) | undefined;
export function logOffThreadFailuresTo(log: { error(obj: object, msg: string): void }): void {
  internalLog = (what, msg) => log.error(what, msg);
}

/**
 * A task's refusal meant for the client (it has a status) keeps its words; anything else (a bug, a
 * module that is not there, a crash) says only that processing failed: its message may name the
 * server's files. The original goes to the server's log.
 */
function failure(
  e: { message: string; code?: string; statusCode?: number; details?: Record<string, unknown>; params?: Record<string, unknown> },
  moduleUrl: string | URL,
  fn: string,
): OffThreadError {
  if (e.statusCode !== undefined) return new OffThreadError(e.message, e.code, e.statusCode, e.details, e.params);
  internalLog?.({ err: e.message, moduleUrl: String(moduleUrl), fn }, 'an off-thread task failed');
  return new OffThreadError('processing failed inside the server (the server log says why)', 'LOANET_OFFTHREAD_FAILED', undefined, undefined);
}

const lanes: Record<Lane, { running: number; waiting: Array<() => void> }> = { alert: { running: 0, waiting: [] }, media: { running: 0, waiting: [] } };

async function slot(lane: Lane): Promise<() => void> {
  const l = lanes[lane];
  if (l.running >= LANES[lane]) await new Promise<void>((resolve) => l.waiting.push(resolve));
  l.running++;
  return () => {
    l.running--;
    l.waiting.shift()?.();
  };
}

/** Tasks running in a worker now, and waiting for one, all lanes together (for reporting and tests). */
export function offThreadTasks(): { running: number; waiting: number } {
  const all = Object.values(lanes);
  return { running: all.reduce((n, l) => n + l.running, 0), waiting: all.reduce((n, l) => n + l.waiting.length, 0) };
}

export async function runOffThread<T>(moduleUrl: string | URL, fn: string, input: unknown, o: OffThreadOptions): Promise<T> {
  const release = await slot(o.lane);
  try {
    return await new Promise<T>((resolve, reject) => {
      const worker = new Worker(ENTRY, {
        workerData: { moduleUrl: String(moduleUrl), fn, input, nice: LANE_NICE[o.lane] },
        transferList: o.transfer ?? [],
        resourceLimits: { maxOldGenerationSizeMb: o.maxHeapMb, maxYoungGenerationSizeMb: 32 },
        stdout: false,
        stderr: false,
      });
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(check);
        f();
        void worker.terminate();
      };
      const stop = (message: string, params: Record<string, unknown>) => settle(() => reject(new OffThreadError(message, 'LOANET_OFFTHREAD_TIMEOUT', undefined, params)));
      const startedAt = performance.now();
      /** The worker's thread, once it has said which: its CPU time is what counts (null: it cannot be read here). */
      let tid: number | null | undefined;
      /** Its CPU time at the last reading (a thread that has just ended has no file left to read). */
      let cpuMs = 0;
      const check = setInterval(() => {
        const wallMs = performance.now() - startedAt;
        if (tid !== undefined && tid !== null) cpuMs = threadCpuMs(tid) ?? cpuMs;
        // Nothing counts before the worker has started; where its thread's CPU time cannot be read, wall-clock time stands for it.
        const usedMs = tid === undefined ? 0 : tid === null ? wallMs : cpuMs;
        if (usedMs > o.timeoutMs) {
          stop(`processing took longer than ${Math.round(o.timeoutMs / 1000)} s`, { limitMs: o.timeoutMs });
        } else if (wallMs > o.timeoutMs * WALL_FACTOR) {
          stop(`processing did not finish within ${Math.round((o.timeoutMs * WALL_FACTOR) / 1000)} s`, { limitMs: o.timeoutMs * WALL_FACTOR });
        }
      }, CPU_CHECK_MS);
      type Answer = { ok: true; result: T } | { ok: false; error: { message: string; code?: string; statusCode?: number; details?: Record<string, unknown> } };
      worker.on('message', (m: { started: true; tid: number | null } | Answer) => {
        if ('started' in m) {
          tid = m.tid;
          return;
        }
        settle(() => (m.ok ? resolve(m.result) : reject(failure(m.error, moduleUrl, fn))));
      });
      worker.once('error', (e: Error & { code?: string }) =>
        settle(() =>
          reject(
            e.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? new OffThreadError(`processing needed more than ${o.maxHeapMb} MB of memory`, 'LOANET_OFFTHREAD_MEMORY', undefined, { limitMb: o.maxHeapMb })
              : failure({ message: e.message, ...(e.code ? { code: e.code } : {}) }, moduleUrl, fn),
          ),
        ),
      );
      worker.once('exit', (code) => settle(() => reject(failure({ message: `the worker stopped (exit code ${code}) without an answer` }, moduleUrl, fn))));
    });
  } finally {
    release();
  }
}
