/**
 * `npm run bench [-- --quick] [-- --out FILE]`: runs every benchmark
 * scenario, prints its table, and optionally writes all results as one JSON
 * document with the machine described. Benchmarks measure; tests never time.
 */
import fs from 'node:fs';
import os from 'node:os';
import { printTable, runCoverageComputeBench, type BenchResult } from './coverage-compute.ts';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 ? argv[outIdx + 1] : undefined;
  if (outIdx >= 0 && !out) throw new Error('--out needs a file name');
  const machine = {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.versions.node,
    platform: `${os.platform()} ${os.release()}`,
  };
  console.log(`loanet benchmarks${quick ? ' (quick)' : ''} on ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}`);
  const results: BenchResult[] = [];
  const coverage = await runCoverageComputeBench({ quick });
  printTable(coverage);
  results.push(...coverage);
  if (out) {
    fs.writeFileSync(out, JSON.stringify({ at: new Date().toISOString(), machine, quick, results }, null, 2));
    console.log(`wrote ${out}`);
  }
}

main().catch((e: unknown) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
