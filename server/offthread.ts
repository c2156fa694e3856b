/**
 * Runs a CPU-heavy function over untrusted input (unzipping a .docx, parsing
 * a large CAP document) in a worker thread, so the event loop that serves
 * HTTP, the MQTT broker and the alert path stays free whatever the input.
 *
 * One fresh worker per task: a hostile input that exhausts the worker's heap
 * or never finishes costs that worker only (it is terminated at the deadline
 * or dies at its heap limit), and no state leaks from one input to the next.
 * At most `MAX_CONCURRENT` tasks run at once (the machine's cores serve the
 * alert path too); the others wait their turn.
 *
 * The function named by `fn` must be an export of `moduleUrl` taking one
 * structured-cloneable input and answering a structured-cloneable result. An
 * error it throws comes back as `OffThreadError` with its `code`, `statusCode`
 * and `details` when it had them.
 */
import { Worker } from 'node:worker_threads';

const ENTRY = new URL('./offthread-worker.mjs', import.meta.url);

/** Tasks running at once; more wait. */
export const MAX_CONCURRENT = 2;

export interface OffThreadOptions {
  /** Wall-clock deadline of the task, from when it starts running (ms). */
  timeoutMs: number;
  /** Heap limit of the worker (MB of V8 old generation). */
  maxHeapMb: number;
  /** Buffers moved to the worker instead of copied (the caller must not use them afterwards). */
  transfer?: ArrayBuffer[];
}

export class OffThreadError extends Error {
  constructor(
    message: string,
    /** The thrown error's code; 'LOANET_OFFTHREAD_TIMEOUT' or 'LOANET_OFFTHREAD_MEMORY' when the worker was stopped. */
    readonly code: string | undefined,
    readonly statusCode: number | undefined,
    readonly details: Record<string, unknown> | undefined,
  ) {
    super(message);
    this.name = 'OffThreadError';
  }
}

let running = 0;
const waiting: Array<() => void> = [];

async function slot(): Promise<() => void> {
  if (running >= MAX_CONCURRENT) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  return () => {
    running--;
    waiting.shift()?.();
  };
}

/** Tasks running in a worker now, and waiting for one (for /api/health-style reporting and tests). */
export function offThreadTasks(): { running: number; waiting: number } {
  return { running, waiting: waiting.length };
}

export async function runOffThread<T>(moduleUrl: string | URL, fn: string, input: unknown, o: OffThreadOptions): Promise<T> {
  const release = await slot();
  try {
    return await new Promise<T>((resolve, reject) => {
      const worker = new Worker(ENTRY, {
        workerData: { moduleUrl: String(moduleUrl), fn, input },
        transferList: o.transfer ?? [],
        resourceLimits: { maxOldGenerationSizeMb: o.maxHeapMb, maxYoungGenerationSizeMb: 32 },
        stdout: false,
        stderr: false,
      });
      let settled = false;
      const settle = (f: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        f();
        void worker.terminate();
      };
      const timer = setTimeout(
        () => settle(() => reject(new OffThreadError(`processing took longer than ${Math.round(o.timeoutMs / 1000)} s`, 'LOANET_OFFTHREAD_TIMEOUT', undefined, { limitMs: o.timeoutMs }))),
        o.timeoutMs,
      );
      worker.once('message', (m: { ok: true; result: T } | { ok: false; error: { message: string; code?: string; statusCode?: number; details?: Record<string, unknown> } }) =>
        settle(() => (m.ok ? resolve(m.result) : reject(new OffThreadError(m.error.message, m.error.code, m.error.statusCode, m.error.details)))),
      );
      worker.once('error', (e: Error & { code?: string }) =>
        settle(() =>
          reject(
            e.code === 'ERR_WORKER_OUT_OF_MEMORY'
              ? new OffThreadError(`processing needed more than ${o.maxHeapMb} MB of memory`, 'LOANET_OFFTHREAD_MEMORY', undefined, { limitMb: o.maxHeapMb })
              : new OffThreadError(e.message, e.code, undefined, undefined),
          ),
        ),
      );
      worker.once('exit', (code) => settle(() => reject(new OffThreadError(`the worker stopped (exit code ${code}) without an answer`, undefined, undefined, undefined))));
    });
  } finally {
    release();
  }
}
