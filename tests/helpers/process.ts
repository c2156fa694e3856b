/**
 * A command-line program of the project as a test runs it: its own OS
 * process, its stdout and stderr kept line by line, its exit awaited. The
 * agent and the server run from the bundles built for the run
 * (programs-build.ts), as a board and `npm start` run them; other TypeScript
 * entry points as `node --import tsx FILE`, what `npx tsx FILE` ends up
 * running. Either way `node` is the process itself: npx and the tsx launcher
 * are parent processes that do not pass SIGTERM/SIGKILL on (killing them
 * orphans the real process), and several tests are about those signals.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { waitFor } from './wait.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');

/** The programs built once per run, by their sources. */
const PROGRAM_SOURCES = { agent: 'edge-agent/main.ts', server: 'server/main.ts' } as const;
export type Program = keyof typeof PROGRAM_SOURCES;

/** Where the global set-up (programs-build.ts) tells the test files each built program's main.mjs is. */
export const BUILT_PROGRAM_ENV: Record<Program, string> = { agent: 'LOANET_TEST_BUILT_AGENT', server: 'LOANET_TEST_BUILT_SERVER' };

/**
 * Node's arguments that run `program`: its bundle built for this run, or — where no run built one (a
 * bench, a script outside vitest) — its sources through tsx.
 */
export function programArgs(program: Program): string[] {
  const built = process.env[BUILT_PROGRAM_ENV[program]];
  return built ? [built] : ['--import', 'tsx', PROGRAM_SOURCES[program]];
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  child: ChildProcess;
  /** stdout and stderr lines, in arrival order, prefixed "out: " / "err: ". */
  lines: string[];
  /** Everything printed so far on both streams, as it came (an unfinished last line included). */
  text(): string;
  exited: Promise<Exit>;
  running(): boolean;
  /** The first line matching `re`; fails at once, with the output, if the process exits without it. */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

/** Every process this test file started and that has not exited: stopAllProcesses() ends them. */
const running = new Set<Proc>();

export interface ProcessOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Keep a pipe to the child's stdin (child.stdin), for programs that take commands there. */
  stdin?: boolean;
}

export function startProcess(command: string, args: string[], o: ProcessOptions = {}): Proc {
  const child = spawn(command, args, { cwd: ROOT, stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_NO_WARNINGS: '1', ...o.env } });
  const lines: string[] = [];
  let text = '';
  const collect = (prefix: string) => {
    let partial = '';
    return (chunk: Buffer) => {
      const s = chunk.toString('utf8');
      text += s;
      const parts = (partial + s).split('\n');
      partial = parts.pop()!;
      for (const p of parts) lines.push(prefix + p);
    };
  };
  child.stdout!.on('data', collect('out: '));
  child.stderr!.on('data', collect('err: '));
  let done = false;
  const exited = new Promise<Exit>((resolve) => {
    child.on('exit', (code, signal) => {
      done = true;
      resolve({ code, signal });
    });
  });
  const script = args.find((a) => a.endsWith('.ts') || a.endsWith('.mjs'));
  const name = script ? path.relative(ROOT, script) : path.basename(command);
  const proc: Proc = {
    child,
    lines,
    text: () => text,
    exited,
    running: () => !done,
    async waitForLine(re, timeoutMs = 60_000) {
      try {
        return await waitFor(
          `${name} to print ${re}`,
          () => {
            for (const l of lines) {
              const m = l.match(re);
              if (m) return m;
            }
            if (done) throw new Error(`${name} exited before printing ${re}`);
            return undefined;
          },
          timeoutMs,
        );
      } catch (e) {
        throw new Error(`${(e as Error).message}; its output:\n${lines.join('\n')}`);
      }
    },
  };
  running.add(proc);
  void exited.then(() => running.delete(proc));
  return proc;
}

/** `node --import tsx SCRIPT ARGS…`, from the project's root. */
export function tsNode(script: string, ...args: string[]): Proc {
  return startProcess(process.execPath, ['--import', 'tsx', script, ...args]);
}

/** The edge agent's command line (edge-agent/main.ts, built), as a board's service runs it. */
export function agentCli(...args: string[]): Proc {
  return agentProcess(args, {});
}

/** agentCli with options (an environment of its own). */
export function agentProcess(args: string[], o: ProcessOptions): Proc {
  return startProcess(process.execPath, [...programArgs('agent'), ...args], o);
}

/** A simulated device on TCP (firmware-sim/device-main.ts, `npm run device -- ARGS…`); faults are injected on its stdin. */
export function deviceCli(...args: string[]): Proc {
  return startProcess(process.execPath, ['--import', 'tsx', 'firmware-sim/device-main.ts', ...args], { stdin: true });
}

export async function stopProcess(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!p.running()) return;
  p.child.kill(signal);
  await p.exited;
}

export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...running].map((p) => stopProcess(p)));
}
