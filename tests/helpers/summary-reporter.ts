/**
 * Prints one plain closing line, "N passed, N failed, N skipped", after
 * vitest's own report, so CI and anyone reading a log see the totals the
 * same way for every runner; then the slowest test files, so every full run
 * shows where the suite's wall time goes.
 */
import type { Reporter, TestModule } from 'vitest/node';

/** How many of the slowest files are listed. */
const SLOWEST = 15;

/** A file's own wall time, ms: its set-up and import, then its tests and hooks (vitest's diagnostic, per file). */
function fileMs(m: TestModule): number {
  const d = m.diagnostic();
  return d.environmentSetupDuration + d.prepareDuration + d.setupDuration + d.collectDuration + d.duration;
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = 0;
    let skipped = 0;
    for (const m of modules) {
      let failedHere = 0;
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === 'passed') passed++;
        else if (s === 'failed') failedHere++;
        else skipped++;
      }
      // A file that failed to load, or whose set-up hook failed (its tests then count as skipped), failed
      // without a failed test to count: count the file, so the line never says 0 failed for a failed run.
      failed += m.state() === 'failed' && failedHere === 0 ? 1 : failedHere;
    }
    failed += unhandledErrors.length;
    process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
    process.stdout.write(slowest(modules));
    process.stdout.write(costliest(modules));
  }
}

/** The slowest files, seconds each: in all, and of it importing (module and set-up files) and running tests and hooks. */
function slowest(modules: ReadonlyArray<TestModule>): string {
  if (modules.length < 2) return '';
  const rows = modules
    .map((m) => ({ m, ms: fileMs(m) }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, SLOWEST);
  const s = (ms: number) => (ms / 1000).toFixed(1).padStart(7);
  const lines = rows.map(({ m, ms }) => {
    const d = m.diagnostic();
    return `${s(ms)} ${s(d.collectDuration + d.setupDuration)} ${s(d.duration)}  ${m.project.name ? `[${m.project.name}] ` : ''}${m.relativeModuleId}`;
  });
  return `\n${rows.length} slowest test files, seconds:\n${'    all'} ${' import'} ${'  tests'}\n${lines.join('\n')}\n`;
}

/** The files that cost the most CPU (file-cpu.ts), seconds each, and the whole run's: where a loaded machine's cores go. */
function costliest(modules: ReadonlyArray<TestModule>): string {
  const rows = modules
    .map((m) => ({ m, cpu: m.meta().cpu }))
    .filter((r): r is { m: TestModule; cpu: { ownMs: number; childrenMs: number } } => r.cpu !== undefined)
    .map((r) => ({ ...r, ms: r.cpu.ownMs + r.cpu.childrenMs }))
    .sort((a, b) => b.ms - a.ms);
  if (rows.length < 2) return '';
  const s = (ms: number) => (ms / 1000).toFixed(1).padStart(7);
  const total = rows.reduce((sum, r) => sum + r.ms, 0);
  const children = rows.reduce((sum, r) => sum + r.cpu.childrenMs, 0);
  const lines = rows
    .slice(0, SLOWEST)
    .map(({ m, cpu, ms }) => `${s(ms)} ${s(cpu.ownMs)} ${s(cpu.childrenMs)}  ${m.project.name ? `[${m.project.name}] ` : ''}${m.relativeModuleId}`);
  return `\nCPU of the ${rows.length} test files: ${(total / 1000).toFixed(0)} s (child processes ${(children / 1000).toFixed(0)} s); the ${lines.length} costliest, seconds:\n${'    all'} ${'    own'} ${'  child'}\n${lines.join('\n')}\n`;
}
