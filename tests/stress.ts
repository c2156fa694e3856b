/**
 * The whole test suite, N times in a row, on a machine kept busy on purpose:
 * one spinning child process per core (at nice 0, the tests' own priority),
 * so every run sees the load a shared CI machine or a laptop doing other work
 * would give it. A suite that passes here does not depend on timing.
 *
 *   npm run test:stress                          # the full suite, 5 times
 *   LOANET_STRESS_RUNS=1 npm run test:stress -- tests/unit/backoff.test.ts
 *
 * Arguments after `--` go to `vitest run` (files, -t filters). It stops at the
 * first failing run, prints each run's result, wall time and the load average,
 * and always stops its load, also on Ctrl-C. Exit code: 0 when every run passed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const runs = Number(process.env.LOANET_STRESS_RUNS ?? 5);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`LOANET_STRESS_RUNS must be a whole number ≥ 1, not ${process.env.LOANET_STRESS_RUNS}`);
  process.exit(2);
}
const vitestArgs = process.argv.slice(2);
const cores = os.availableParallelism();

/** One busy loop per core, each its own process at nice 0 (so the kernel shares the cores with the tests evenly). */
function startLoad(): ChildProcess[] {
  const spin = 'for (;;) { Math.sqrt(Math.random()); }';
  return Array.from({ length: cores }, () => {
    const p = spawn(process.execPath, ['-e', spin], { stdio: 'ignore' });
    if (p.pid !== undefined) os.setPriority(p.pid, 0);
    return p;
  });
}

let load: ChildProcess[] = [];
function stopLoad(): void {
  for (const p of load) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  load = [];
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    stopLoad();
    process.exit(130);
  });
}
process.on('exit', stopLoad);

const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

function runSuite(): Promise<number> {
  // CI=true: a missing tool fails rather than skips, as in CI.
  const child = spawn('npx', ['vitest', 'run', ...vitestArgs], { cwd: root, stdio: 'inherit', env: { ...process.env, CI: 'true' } });
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1))));
}

async function main(): Promise<number> {
  console.log(`test:stress: ${runs} run(s) of vitest run ${vitestArgs.join(' ')} with ${cores} spinning process(es), load average now ${loadavg()}`);
  load = startLoad();
  const results: Array<{ run: number; ok: boolean; seconds: number; load: string }> = [];
  try {
    for (let i = 1; i <= runs; i++) {
      const started = performance.now();
      const code = await runSuite();
      const r = { run: i, ok: code === 0, seconds: (performance.now() - started) / 1000, load: loadavg() };
      results.push(r);
      console.log(`test:stress: run ${i}/${runs} ${r.ok ? 'PASSED' : `FAILED (exit ${code})`} in ${r.seconds.toFixed(1)} s, load average ${r.load}`);
      if (!r.ok) break;
    }
  } finally {
    stopLoad();
  }
  console.log('\ntest:stress summary');
  for (const r of results) console.log(`  run ${r.run}: ${r.ok ? 'pass' : 'FAIL'}  ${r.seconds.toFixed(1)} s  load ${r.load}`);
  const passed = results.filter((r) => r.ok).length;
  console.log(`  ${passed} of ${runs} runs passed${passed === runs ? '' : results.at(-1)?.ok === false ? ' (stopped at the first failure)' : ''}`);
  return passed === runs ? 0 : 1;
}

process.exitCode = await main();
