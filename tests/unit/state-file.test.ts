/**
 * The agent's state files (edge-agent/state-file.ts): written durably with a
 * checksum header, a damaged newest copy falls back to the previous good one,
 * an older agent's plain JSON is still read, and — the property — no
 * truncation and no bit flip of a file is ever read as a valid state other
 * than the one written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeState, encodeState, PREV_SUFFIX, readStateFile, writeJsonAtomic } from '../../edge-agent/state-file.ts';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-state-file-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const quiet = () => {
  const warnings: string[] = [];
  return { warnings, warn: (m: string) => warnings.push(m) };
};

/** JSON values as the agent stores them: objects of small trees. */
const stateValue = fc.dictionary(
  fc.string({ maxLength: 12 }),
  fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.integer(), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
  ),
  { maxKeys: 8 },
);

describe('state files', () => {
  it('reads back what was written, from a file that starts with its checksum header', async () => {
    const file = path.join(dir, 'a', 'playlist.json');
    const w = quiet();
    expect(await readStateFile(file, 'playlist', w.warn)).toEqual({ value: undefined, from: 'none', damaged: false, absent: true });
    await writeJsonAtomic(file, { version: 'v1', entries: [1, 2] });
    expect(fs.readFileSync(file, 'latin1')).toMatch(/^#loanet-state 1 sha256=[0-9a-f]{64} bytes=\d+\n\{/);
    expect(await readStateFile(file, 'playlist', w.warn)).toEqual({ value: { version: 'v1', entries: [1, 2] }, from: 'current', damaged: false, absent: false });
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);
    expect(w.warnings).toEqual([]);
  });

  it('keeps the copy it replaces, and a torn newest copy falls back to it and says so', async () => {
    const file = path.join(dir, 'b', 'playlist.json');
    await writeJsonAtomic(file, { version: 'v1' });
    expect(fs.existsSync(`${file}${PREV_SUFFIX}`)).toBe(false);
    await writeJsonAtomic(file, { version: 'v2' });
    const w = quiet();
    expect((await readStateFile(`${file}${PREV_SUFFIX}`, 'x', w.warn)).value).toEqual({ version: 'v1' });
    const bytes = fs.readFileSync(file);
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 3)); // a power cut tore the newest write
    const r = await readStateFile(file, 'playlist', w.warn);
    expect(r).toEqual({ value: { version: 'v1' }, from: 'prev', damaged: true, absent: false });
    expect(w.warnings.join('\n')).toMatch(/ignoring damaged playlist .*playlist\.json: .*torn or truncated/);
    expect(w.warnings.join('\n')).toMatch(/using the previous good copy/);
  });

  it('never makes a damaged newest copy the previous one: the good .prev survives the next write', async () => {
    const file = path.join(dir, 'c', 'alerts.json');
    await writeJsonAtomic(file, { n: 1 });
    await writeJsonAtomic(file, { n: 2 });
    fs.writeFileSync(file, '');
    const w = quiet();
    expect((await readStateFile(file, 'alerts', w.warn)).value).toEqual({ n: 1 });
    await writeJsonAtomic(file, { n: 3 });
    expect((await readStateFile(`${file}${PREV_SUFFIX}`, 'x', w.warn)).value).toEqual({ n: 1 });
    expect((await readStateFile(file, 'alerts', w.warn)).value).toEqual({ n: 3 });
  });

  it('both copies damaged: nothing, marked damaged (the agent knows it lost state, not that it never had any)', async () => {
    const file = path.join(dir, 'd', 'commands.json');
    await writeJsonAtomic(file, { n: 1 });
    await writeJsonAtomic(file, { n: 2 });
    fs.writeFileSync(file, 'garbage');
    fs.writeFileSync(`${file}${PREV_SUFFIX}`, '');
    expect(await readStateFile(file, 'ledger', quiet().warn)).toEqual({ value: undefined, from: 'none', damaged: true, absent: false });
  });

  it("reads an older agent's plain JSON once, and writes the checked format from then on", async () => {
    const file = path.join(dir, 'e', 'settings.json');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ v: 1, acousticDelayM: 12 }));
    expect(await readStateFile(file, 'settings', quiet().warn)).toMatchObject({ value: { v: 1, acousticDelayM: 12 }, from: 'legacy', damaged: false });
    await writeJsonAtomic(file, { v: 1, acousticDelayM: 13 });
    expect(fs.readFileSync(file, 'latin1').startsWith('#loanet-state 1 ')).toBe(true);
    expect((await readStateFile(`${file}${PREV_SUFFIX}`, 'x', quiet().warn)).value).toEqual({ v: 1, acousticDelayM: 12 });
  });

  it('property: no truncation of a state file is read as a valid state', () => {
    fc.assert(
      fc.property(stateValue, fc.nat(), (value, cut) => {
        const bytes = encodeState(value);
        const at = cut % bytes.length; // strictly shorter than written
        const d = decodeState(bytes.subarray(0, at));
        expect(d.ok, `cut at ${at} of ${bytes.length} read as valid`).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: no bit flip of a state file is read as a valid state', () => {
    fc.assert(
      fc.property(stateValue, fc.nat(), fc.integer({ min: 0, max: 7 }), (value, pos, bit) => {
        const bytes = Buffer.from(encodeState(value));
        const i = pos % bytes.length;
        bytes[i] = bytes[i]! ^ (1 << bit);
        const d = decodeState(bytes);
        expect(d.ok, `bit ${bit} of byte ${i} flipped, read as ${d.ok ? JSON.stringify(d.value) : ''}`).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('property: any damage to the newest copy on disk reads as the previous state or the newest, never as a third', async () => {
    const file = path.join(dir, 'f', 'state.json');
    await fc.assert(
      fc.asyncProperty(stateValue, stateValue, fc.nat(), fc.oneof(fc.constant<'cut'>('cut'), fc.constant<'flip'>('flip')), async (older, newer, pos, how) => {
        fs.rmSync(path.dirname(file), { recursive: true, force: true });
        await writeJsonAtomic(file, older);
        await writeJsonAtomic(file, newer);
        const bytes = fs.readFileSync(file);
        const i = pos % bytes.length;
        if (how === 'cut') fs.writeFileSync(file, bytes.subarray(0, i));
        else {
          bytes[i] = bytes[i]! ^ 0x10;
          fs.writeFileSync(file, bytes);
        }
        const r = await readStateFile(file, 'state', () => {});
        expect(r.from).toBe('prev');
        expect(r.damaged).toBe(true);
        expect(r.value).toEqual(JSON.parse(JSON.stringify(older)));
      }),
      { numRuns: 150 },
    );
  });
});
