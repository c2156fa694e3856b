/**
 * run() (server/media/tools.ts) starts every media tool from one worker
 * thread, never from the event loop: its contract (output, stdout lines in
 * order, stderr tail, timeout, abort, nice, the error when a program cannot
 * start) with real processes, several runs at once, the thread's restart,
 * and that no process hangs on it. No fixed sleeps: conditions are waited
 * for with a deadline.
 */
import { describe, expect, it, vi } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { waitFor } from '../helpers/wait.ts';
import { procStatFields } from '../../server/proc-stat.ts';

// Count every child_process call made on this (the main) thread: run() must make none.
const mainThreadSpawns = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:child_process', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:child_process')>();
  const counted = <F extends (...a: never[]) => unknown>(f: F): F =>
    ((...a: Parameters<F>) => {
      mainThreadSpawns.count++;
      return f(...a);
    }) as F;
  const mocked = {
    ...real,
    spawn: counted(real.spawn),
    execFile: counted(real.execFile),
    exec: counted(real.exec),
    fork: counted(real.fork),
  };
  return { ...mocked, default: mocked };
});

const { run, runState, stopRunThread, withProcessPriority } = await import('../../server/media/tools.ts');

const ROOT = path.resolve(import.meta.dirname, '../..');

/** The fields of /proc/<pid>/stat after the command name: [state, ppid, …]; undefined once the process is gone. */
const procStat = (pid: number) => procStatFields(`/proc/${pid}/stat`);

/** Alive: exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const st = procStat(pid);
  return st !== undefined && st[0] !== 'Z';
}

/** A shell that prints its pid, then becomes `sleep` (same pid, holds no pipe in another process). */
function sleeper(): { lines: string[]; started: Promise<number>; onStdoutLine: (l: string) => void } {
  const lines: string[] = [];
  let got: (pid: number) => void = () => {};
  const started = new Promise<number>((r) => (got = r));
  return {
    lines,
    started,
    onStdoutLine: (l) => {
      lines.push(l);
      if (lines.length === 1) got(Number(l));
    },
  };
}

describe('run(): media tools spawned off the main thread', () => {
  it('answers exit code, stdout and the stderr tail as before', async () => {
    const r = await run('sh', ['-c', 'echo out; echo err1 >&2; echo err2 >&2; exit 3']);
    expect(r).toEqual({ code: 3, signal: null, stdout: 'out\n', stderr: 'err1\nerr2\n' });
    const tail = await run('sh', ['-c', 'i=0; while [ $i -lt 2000 ]; do echo "line $i" >&2; i=$((i+1)); done'], { maxStderr: 100 });
    expect(tail.stderr.length).toBeLessThanOrEqual(100);
    expect(tail.stderr.endsWith('line 1999\n')).toBe(true);
  });

  it('several runs at once each get their own stdout lines, complete, in order', async () => {
    const n = 3000;
    const runs = Array.from({ length: 6 }, (_, k) => {
      const lines: string[] = [];
      const p = run('sh', ['-c', `i=0; while [ $i -lt ${n} ]; do echo "r${k} $i  "; i=$((i+1)); done; printf 'no newline'`], { onStdoutLine: (l) => lines.push(l) });
      return { k, lines, p };
    });
    const plain = run('sh', ['-c', 'echo a; echo b']);
    expect(runState().running).toBe(7);
    for (const { k, lines, p } of runs) {
      const r = await p;
      expect(r.code).toBe(0);
      // With a line callback, stdout is given line by line only; a last line without its newline is not a line.
      expect(r.stdout).toBe('');
      expect(lines).toEqual(Array.from({ length: n }, (_, i) => `r${k} ${i}`));
    }
    expect((await plain).stdout).toBe('a\nb\n');
    expect(runState().running).toBe(0);
  });

  it('an abort SIGKILLs the child and rejects with AbortError, as spawn with a signal did', async () => {
    const ac = new AbortController();
    const s = sleeper();
    const p = run('sh', ['-c', 'echo $$; exec sleep 60'], { signal: ac.signal, onStdoutLine: s.onStdoutLine });
    const pid = await s.started;
    await waitFor('the sleep to run', () => procStat(pid)?.[0] === 'S');
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await waitFor(`process ${pid} to be killed and reaped`, () => !alive(pid));

    // Already aborted: no program starts at all.
    const before = runState().running;
    await expect(run('sh', ['-c', 'exit 0'], { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(runState().running).toBe(before);
  });

  it('the timeout SIGKILLs the child and resolves with code null, signal SIGKILL', async () => {
    const s = sleeper();
    const r = await run('sh', ['-c', 'echo $$; echo partial >&2; exec sleep 60'], { timeoutMs: 300, onStdoutLine: s.onStdoutLine });
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL', stderr: 'partial\n' });
    const pid = await s.started;
    await waitFor(`process ${pid} to be gone`, () => !alive(pid));
  });

  it('a program that cannot start rejects with spawn’s own error', async () => {
    const missing = path.join(ROOT, 'no-such-program');
    const e = await run(missing, ['-x', 'y']).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(e).toMatchObject({ message: `spawn ${missing} ENOENT`, code: 'ENOENT', errno: -2, syscall: `spawn ${missing}`, path: missing, spawnargs: ['-x', 'y'] });
    const notExec = path.join(ROOT, 'package.json');
    await expect(run(notExec, [])).rejects.toMatchObject({ message: `spawn ${notExec} EACCES`, code: 'EACCES' });
    // Runs after a failure still work.
    expect((await run('sh', ['-c', 'echo ok'])).stdout).toBe('ok\n');
  });

  it('the nice value of withProcessPriority is applied to the child', async () => {
    const ac = new AbortController();
    const s = sleeper();
    const p = withProcessPriority(9, () => run('sh', ['-c', 'echo $$; exec sleep 60'], { signal: ac.signal, onStdoutLine: s.onStdoutLine }));
    const pid = await s.started;
    // Field 19 of /proc/<pid>/stat is the nice value; the 17th after the command name.
    expect(await waitFor('nice 9', () => procStat(pid)?.[16] === '9' && '9')).toBe('9');
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    // Outside withProcessPriority: the server's own nice.
    const own = procStat(process.pid)![16];
    expect((await run('sh', ['-c', 'cut -d")" -f2 /proc/$$/stat | cut -d" " -f18'])).stdout.trim()).toBe(own);
  });

  it('a thread that dies takes its children with it, fails its runs, and the next run starts another', async () => {
    const s = sleeper();
    const p = run('sh', ['-c', 'echo $$; exec sleep 60'], { onStdoutLine: s.onStdoutLine });
    const pid = await s.started;
    await stopRunThread();
    await expect(p).rejects.toThrow(/thread that runs media tools stopped/);
    // The child is killed (it stays a zombie: nobody reaps a dead thread's children).
    await waitFor(`process ${pid} to be killed`, () => !alive(pid));
    expect(runState().worker).toBe(false);
    expect((await run('sh', ['-c', 'echo again'])).stdout).toBe('again\n');
    expect(runState().worker).toBe(true);
  });

  it('this thread called no child_process function for any of the runs above', () => {
    expect(mainThreadSpawns.count).toBe(0);
  });

  it('server/media and server/alerts import child_process only in the spawning worker', () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (/\.(ts|mts|mjs|js|cjs)$/.test(e.name)) files.push(p);
      }
    };
    walk(path.join(ROOT, 'server/media'));
    walk(path.join(ROOT, 'server/alerts'));
    const importers = files.filter((f) => /['"](node:)?child_process['"]/.test(fs.readFileSync(f, 'utf8'))).map((f) => path.relative(ROOT, f));
    expect(importers).toEqual(['server/media/spawn-worker.mjs']);
  });

  it('nothing hangs: a process whose runs ended (one aborted) exits by itself, its aborted child killed', async () => {
    // The worker is unref'ed while idle: the process must exit without stopping it.
    const script = `
      import { run } from ${JSON.stringify(path.join(ROOT, 'server/media/tools.ts'))};
      const r = await run('sh', ['-c', 'echo done']);
      const ac = new AbortController();
      let pid;
      const p = run('sh', ['-c', 'echo $$; exec sleep 60'], { signal: ac.signal, onStdoutLine: (l) => { pid = Number(l); ac.abort(); } });
      await p.catch((e) => console.log(JSON.stringify({ out: r.stdout, aborted: e.name, pid })));
    `;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(res.error).toBeUndefined();
    expect(res.status).toBe(0);
    const out = JSON.parse(res.stdout.trim().split('\n').pop()!) as { out: string; aborted: string; pid: number };
    expect(out).toMatchObject({ out: 'done\n', aborted: 'AbortError' });
    await waitFor(`process ${out.pid} to be gone`, () => !alive(out.pid));
  });
});
