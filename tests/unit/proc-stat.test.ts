import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { procStatFields, STAT_FIELD, statCpuMs } from '../../server/proc-stat.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-proc-stat-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A stat line whose command name holds spaces and a closing parenthesis, as a process may name itself. */
function statFile(name: string): string {
  const fields = ['S', '77', '1', '1', '0', '-1', '4194304', '10', '0', '0', '0', '150', '25', '40', '2', '20', '10'];
  const file = path.join(dir, `stat-${Math.random()}`);
  fs.writeFileSync(file, `4242 (${name}) ${fields.join(' ')} 3 0 123\n`);
  return file;
}

describe('proc(5) stat files', () => {
  it('counts fields from after the last closing parenthesis of the command name', () => {
    const f = procStatFields(statFile('node (worker) x'))!;
    expect(f[0]).toBe('S');
    expect(f[STAT_FIELD.ppid]).toBe('77');
    expect(f[STAT_FIELD.nice]).toBe('10');
  });

  it('sums two tick fields into milliseconds', () => {
    const file = statFile('a) b');
    expect(statCpuMs(file, STAT_FIELD.utime, STAT_FIELD.stime)).toBe((150 + 25) * 10);
    expect(statCpuMs(file, STAT_FIELD.cutime, STAT_FIELD.cstime)).toBe((40 + 2) * 10);
  });

  it('answers undefined for a file that is not there (a process or thread gone, or not Linux)', () => {
    expect(procStatFields(path.join(dir, 'none'))).toBeUndefined();
    expect(statCpuMs(path.join(dir, 'none'), STAT_FIELD.utime, STAT_FIELD.stime)).toBeUndefined();
  });
});
