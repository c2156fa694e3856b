/**
 * Finding and running the external programs the media library needs:
 * ffmpeg and ffprobe (LOANET_FFMPEG / LOANET_FFPROBE, then PATH, then the
 * optional npm packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe)
 * and espeak-ng for text to speech. Child processes are spawned without a
 * shell (arguments are never interpolated into a command line), by a worker
 * thread rather than the event loop (spawn-worker.mjs), and can be aborted;
 * nothing here buffers media, only the programs' text output.
 */
import { Worker } from 'node:worker_threads';
import { AsyncLocalStorage } from 'node:async_hooks';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { serverScript } from '../files.ts';

export interface Tool {
  path: string;
  /** Where it was found: 'env' (LOANET_*), 'path' (PATH), 'package' (an npm package). */
  source: 'env' | 'path' | 'package';
}

export interface MediaTools {
  ffmpeg: Tool;
  ffprobe: Tool;
}

export const INSTALL_FFMPEG = 'install ffmpeg (apt-get install ffmpeg), or set LOANET_FFMPEG and LOANET_FFPROBE to its binaries';

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A program name looked up on PATH (a name with a slash is taken as a path). */
export function which(name: string, envPath: string | undefined = process.env.PATH): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? path.resolve(name) : undefined;
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

const require = createRequire(import.meta.url);

/** The binary an installer package ships (its `path` export), when the package is installed and the binary runs here. */
function fromPackage(pkg: string): string | undefined {
  try {
    const p = (require(pkg) as { path?: string }).path;
    return p && isExecutable(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

export interface ToolLookup {
  ffmpegPath?: string | undefined;
  ffprobePath?: string | undefined;
  envPath?: string | undefined;
  /** Tests turn the package fallback off to see the "not found" answer. */
  usePackages?: boolean;
}

/**
 * ffmpeg and ffprobe, in this order: the configured path (which must work:
 * a wrong LOANET_FFMPEG is not silently replaced by another ffmpeg), PATH,
 * the npm installer packages. Answers why not when either is missing.
 */
export function findMediaTools(o: ToolLookup): { tools: MediaTools } | { missing: string } {
  const one = (name: 'ffmpeg' | 'ffprobe', configured: string | undefined, pkg: string): Tool | string => {
    const variable = name === 'ffmpeg' ? 'LOANET_FFMPEG' : 'LOANET_FFPROBE';
    if (configured) {
      const p = which(configured, o.envPath);
      return p ? { path: p, source: 'env' } : `${variable}=${configured} is not an executable file`;
    }
    const onPath = which(name, o.envPath);
    if (onPath) return { path: onPath, source: 'path' };
    const packaged = o.usePackages === false ? undefined : fromPackage(pkg);
    if (packaged) return { path: packaged, source: 'package' };
    return `${name} not found on PATH nor in the npm package ${pkg}`;
  };
  const ffmpeg = one('ffmpeg', o.ffmpegPath, '@ffmpeg-installer/ffmpeg');
  const ffprobe = one('ffprobe', o.ffprobePath, '@ffprobe-installer/ffprobe');
  if (typeof ffmpeg === 'string' || typeof ffprobe === 'string') {
    const why = [ffmpeg, ffprobe].filter((x): x is string => typeof x === 'string').join('; ');
    return { missing: `${why}: ${INSTALL_FFMPEG}` };
  }
  return { tools: { ffmpeg, ffprobe } };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  signal?: AbortSignal;
  /** Each complete stdout line as it arrives (ffmpeg -progress pipe:1). */
  onStdoutLine?: (line: string) => void;
  /** Keep at most this many characters of stderr (the tail is what matters). */
  maxStderr?: number;
  timeoutMs?: number;
}

/**
 * Run a program without a shell; resolves with its exit and output, rejects
 * only when it cannot start (the error of Node's spawn: `spawn FILE ENOENT`
 * with its code, errno, syscall, path and spawnargs) or when `signal` aborts
 * it (an `AbortError`, once SIGKILL has been sent to the child).
 *
 * The child is spawned by one long-lived worker thread (spawn-worker.mjs),
 * never on this thread: libuv's spawn waits until the child has exec'ed,
 * which on a loaded machine means until the child got a core (tens of ms
 * each), and the event loop here serves the alert path. stdout lines come
 * back in batches, in order.
 */
export function run(file: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const signal = o.signal;
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const id = nextRunId++;
    const p: PendingRun = {
      resolve,
      reject,
      onStdoutLine: o.onStdoutLine,
      settled: false,
      pid: undefined,
      signal,
      onAbort: undefined,
    };
    if (signal) {
      p.onAbort = () => {
        if (!p.settled) worker?.postMessage({ type: 'kill', id });
      };
      signal.addEventListener('abort', p.onAbort, { once: true });
    }
    const w = spawner();
    if (pending.size === 0) w.ref();
    pending.set(id, p);
    w.postMessage({
      type: 'run',
      id,
      file,
      args: [...args],
      nice: priority.getStore() ?? 0,
      lines: o.onStdoutLine !== undefined,
      maxStderr: o.maxStderr ?? 256 * 1024,
      timeoutMs: o.timeoutMs ?? 0,
    });
  });
}

interface PendingRun {
  resolve: (r: RunResult) => void;
  reject: (e: Error) => void;
  onStdoutLine: ((line: string) => void) | undefined;
  settled: boolean;
  /** The child's process id once the worker has started it. */
  pid: number | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

type FromWorker =
  | { type: 'spawned'; id: number; pid: number }
  | { type: 'lines'; id: number; lines: string[] }
  | { type: 'exit'; id: number; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }
  | { type: 'error'; id: number; error: { name: string; message: string; [k: string]: unknown } }
  | { type: 'killed'; id: number };

const SPAWN_WORKER = serverScript(new URL('./spawn-worker.mjs', import.meta.url));
let worker: Worker | undefined;
let nextRunId = 1;
const pending = new Map<number, PendingRun>();

/** The same error as spawn's `signal` option gives (name AbortError, code ABORT_ERR). */
class AbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(cause: unknown) {
    super('The operation was aborted', { cause });
    this.name = 'AbortError';
  }
}

function abortError(signal: AbortSignal): AbortError {
  return new AbortError(signal.reason);
}

function settle(id: number, f: (p: PendingRun) => void): void {
  const p = pending.get(id);
  if (!p) return;
  pending.delete(id);
  p.settled = true;
  if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
  // An idle worker never keeps the process alive; a running child does, as a child process of this thread would.
  if (pending.size === 0) worker?.unref();
  f(p);
}

function onWorkerMessage(m: FromWorker): void {
  switch (m.type) {
    case 'spawned': {
      const p = pending.get(m.id);
      if (p) p.pid = m.pid;
      return;
    }
    case 'lines': {
      const p = pending.get(m.id);
      if (p?.onStdoutLine) for (const line of m.lines) p.onStdoutLine(line);
      return;
    }
    case 'exit':
      settle(m.id, (p) => p.resolve({ code: m.code, signal: m.signal, stdout: m.stdout, stderr: m.stderr }));
      return;
    case 'error':
      settle(m.id, (p) => {
        const { name, message, ...fields } = m.error;
        const e = name === 'TypeError' ? new TypeError(message) : name === 'RangeError' ? new RangeError(message) : new Error(message);
        p.reject(Object.assign(e, fields));
      });
      return;
    case 'killed':
      settle(m.id, (p) => p.reject(abortError(p.signal!)));
      return;
  }
}

/** The spawning thread, started on first use and again after it died. */
function spawner(): Worker {
  if (worker) return worker;
  const w = new Worker(SPAWN_WORKER, {
    // Plain JavaScript: no TypeScript loader (tsx) needed in this thread.
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 128 },
  });
  w.unref();
  w.on('message', onWorkerMessage);
  w.on('error', () => {
    // Reported through 'exit' below (every run it had is failed there).
  });
  w.on('exit', (exitCode) => {
    if (worker === w) worker = undefined;
    for (const [id, p] of [...pending]) {
      // A dead thread no longer reaps its children, so their pids are still theirs (zombies at worst): kill what may run on.
      if (p.pid !== undefined) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      settle(id, (q) => q.reject(q.signal?.aborted ? abortError(q.signal) : new Error(`the thread that runs media tools stopped (exit code ${exitCode}) while ${what(q)} ran`)));
    }
  });
  worker = w;
  return w;
}

function what(p: PendingRun): string {
  return p.pid === undefined ? 'a program' : `process ${p.pid}`;
}

/**
 * Stop the spawning thread now: the children of its runs are killed and the
 * runs rejected; the next run starts another thread (as after a crash).
 */
export async function stopRunThread(): Promise<void> {
  await worker?.terminate();
}

/** Runs in progress (for tests): their count and whether the spawning thread is up. */
export function runState(): { running: number; worker: boolean } {
  return { running: pending.size, worker: worker !== undefined };
}

const priority = new AsyncLocalStorage<number>();

/**
 * Run `fn` so that every program `run` starts inside it gets this nice value
 * (0 = the server's own priority, up to 19 = only idle CPU): the media
 * library runs bulletin work below the server and the alerts' audio.
 */
export function withProcessPriority<T>(nice: number, fn: () => Promise<T>): Promise<T> {
  return priority.run(nice, fn);
}
