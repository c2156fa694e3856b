/**
 * Finding and running the external programs the media library needs:
 * ffmpeg and ffprobe (LOANET_FFMPEG / LOANET_FFPROBE, then PATH, then the
 * optional npm packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe)
 * and espeak-ng for text to speech. Child processes are spawned without a
 * shell (arguments are never interpolated into a command line) and can be
 * aborted; nothing here buffers media, only the programs' text output.
 */
import { spawn } from 'node:child_process';
import { AsyncLocalStorage } from 'node:async_hooks';
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

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

/** Run a program without a shell; resolves with its exit and output, rejects only when it cannot start. */
export function run(file: string, args: readonly string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: o.signal, killSignal: 'SIGKILL' });
    const nice = priority.getStore();
    if (nice && child.pid !== undefined) {
      try {
        os.setPriority(child.pid, nice);
      } catch {
        // Lowering our own child's priority is always allowed; if the platform refuses, it simply runs at ours.
      }
    }
    let stdout = '';
    let stderr = '';
    let partial = '';
    const maxErr = o.maxStderr ?? 256 * 1024;
    const timer = o.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), o.timeoutMs) : undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (!o.onStdoutLine) {
        if (stdout.length < 1024 * 1024) stdout += chunk;
        return;
      }
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        o.onStdoutLine(partial.slice(0, nl).trimEnd());
        partial = partial.slice(nl + 1);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      if (stderr.length > maxErr * 2) stderr = stderr.slice(-maxErr);
    });
    child.on('error', (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr: stderr.slice(-maxErr) });
    });
  });
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
