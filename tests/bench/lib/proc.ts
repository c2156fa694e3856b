/**
 * Child processes for the benchmarks, and what they cost: every process a
 * scenario starts is tracked here, runs in its own process group, and is
 * killed (group-wide) when the scenario ends, also on failure or Ctrl-C.
 * CPU and memory are read from /proc for a process and all its descendants
 * (tsx may run esbuild as a child), so the server, the broker and the load
 * generator are measured apart.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { procStatFields, STAT_FIELD } from '../../../server/proc-stat.ts';

export const ROOT = path.resolve(import.meta.dirname, '../../..');
/** Clock ticks per second of /proc/<pid>/stat utime and stime (USER_HZ: 100 on every Linux we run on). */
const CLK_TCK = 100;

export interface Tracked {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Last ~20 KB of stdout and stderr, for error messages. */
  tail(): string;
  /** Resolves with the first output line matching `re` (or rejects at exit or timeout). */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
}

const running = new Set<Tracked>();

/** Start a process in its own process group, its output consumed (a full pipe would block it) and kept as a tail. */
export function startProcess(name: string, cmd: string, args: string[], opts: SpawnOptions & { ipc?: boolean } = {}): Tracked {
  const { ipc, ...rest } = opts;
  const child = spawn(cmd, args, { cwd: ROOT, ...rest, detached: true, stdio: ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  let out = '';
  let partial = '';
  const watchers: Array<{ re: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  const onData = (d: Buffer) => {
    const s = d.toString();
    out = (out + s).slice(-20_000);
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 100_000) partial = '';
    for (const line of lines) {
      for (let i = watchers.length - 1; i >= 0; i--) {
        const m = line.match(watchers[i]!.re);
        if (m) watchers.splice(i, 1)[0]!.resolve(m);
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const t: Tracked = {
    name,
    child,
    pid: child.pid,
    tail: () => out,
    exited,
    waitForLine(re, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no line matching ${re} within ${timeoutMs} ms; output:\n${out.slice(-2000)}`)), timeoutMs);
        const w = { re, resolve: (m: RegExpMatchArray) => (clearTimeout(timer), resolve(m)) };
        watchers.push(w);
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${name} exited (${code}) before printing ${re}; output:\n${out.slice(-2000)}`));
        });
      });
    },
  };
  running.add(t);
  void exited.then(() => running.delete(t));
  return t;
}

/** `node --import tsx FILE ARGS`, as `npm run …` would run it. */
export function startTsx(name: string, file: string, args: string[], env: Record<string, string>, opts: { ipc?: boolean } = {}): Tracked {
  // LOANET_BENCH_NODE_ARGS_<NAME> (e.g. _SERVER="--cpu-prof --cpu-prof-dir=/tmp/prof"): node flags for that child only; NODE_OPTIONS refuses --cpu-prof.
  const extra = process.env[`LOANET_BENCH_NODE_ARGS_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`]?.split(/\s+/).filter(Boolean) ?? [];
  return startProcess(name, process.execPath, [...extra, '--import', 'tsx', path.join(ROOT, file), ...args], { env: { ...process.env, ...env }, ipc: opts.ipc });
}

/** SIGTERM to the whole group, SIGKILL after `graceMs`. Never throws. */
export async function stopProcess(t: Tracked | undefined, graceMs = 5000): Promise<void> {
  if (!t || t.child.exitCode !== null || t.child.signalCode !== null) {
    if (t) killGroup(t.pid, 'SIGKILL');
    return;
  }
  killGroup(t.pid, 'SIGTERM');
  const done = await exitedWithin(t, graceMs);
  // Whatever it left behind in its group (esbuild, a shell) goes too.
  killGroup(t.pid, 'SIGKILL');
  if (!done) await exitedWithin(t, 2000);
}

/** Whether the process exited within `ms` (the timer is cleared, so it never holds the runner open). */
export function exitedWithin(t: Tracked, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([t.exited.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]).finally(() => clearTimeout(timer));
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    /* already gone */
  }
}

/** Every process still running, stopped in reverse start order (load before server before broker). */
export async function stopAll(): Promise<void> {
  for (const t of [...running].reverse()) await stopProcess(t, 3000);
}

// Last resort: if the runner dies, its children must not outlive it.
process.on('exit', () => {
  for (const t of running) killGroup(t.pid, 'SIGKILL');
});

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { freePort } from '../../helpers/mosquitto.ts';

export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs: number, everyMs = 200): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastErr: unknown;
  for (;;) {
    try {
      last = await fn();
      if (last) return last as NonNullable<T>;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${lastErr instanceof Error ? lastErr.message : JSON.stringify(last)}`);
    }
    await sleep(everyMs);
  }
}

export function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

// ------------------------------------------------------------ /proc ----

interface Stat {
  ppid: number;
  ticks: number;
}

function readStat(pid: number): Stat | undefined {
  const f = procStatFields(`/proc/${pid}/stat`);
  return f ? { ppid: Number(f[STAT_FIELD.ppid]), ticks: Number(f[STAT_FIELD.utime]) + Number(f[STAT_FIELD.stime]) } : undefined;
}

/** The pid and every descendant still alive. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = readStat(Number(e));
    if (!st) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(e));
    children.set(st.ppid, list);
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length && out.length < 1000) {
    const p = stack.pop()!;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/** CPU seconds (user + system, all threads) used so far by a process and its descendants. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) ticks += readStat(p)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

/** Resident memory (MiB) of a process and its descendants. */
export function rssMiB(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += m ? Number(m[1]) : 0;
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

/** Measures CPU of several processes over one window: call `start()`, wait, then `stop()` for % of one core each. */
export class CpuWindow {
  private t0 = 0;
  private readonly c0 = new Map<string, number>();
  constructor(private readonly pids: Record<string, number | undefined>) {}
  start(): void {
    this.t0 = performance.now();
    for (const [k, pid] of Object.entries(this.pids)) if (pid) this.c0.set(k, cpuSeconds(pid));
  }
  /** % of one core per process over the window, and the window's length in seconds. */
  stop(): { seconds: number; pct: Record<string, number> } {
    const seconds = (performance.now() - this.t0) / 1000;
    const pct: Record<string, number> = {};
    for (const [k, pid] of Object.entries(this.pids)) if (pid) pct[k] = ((cpuSeconds(pid) - this.c0.get(k)!) / seconds) * 100;
    return { seconds, pct };
  }
}

export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[i]!;
}
