/**
 * An alert memory that was lost or damaged (edge-agent/alerts/memory.ts,
 * decide.ts): the agent asks the server before playing again an alert that
 * may already have played here, and only then.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertStart } from '../../protocol/index.ts';
import { ASK_MARGIN_MS, askServerFirst, handledPerServer, type Remembered } from '../../edge-agent/alerts/decide.ts';
import { AlertMemory } from '../../edge-agent/alerts/memory.ts';
import { writeJsonAtomic } from '../../edge-agent/state-file.ts';

const T = Date.UTC(2026, 11, 4, 8, 0, 0);
const start = (over: Partial<AlertStart> = {}): AlertStart => ({
  v: 1,
  type: 'alert_start',
  alertId: 'alr-1',
  revision: 2,
  test: false,
  areas: ['2025.02683'],
  attention: 'siren',
  repeats: 3,
  validUntil: T + 3_600_000,
  at: T,
  ...over,
});
const mem = (entries: Record<string, Remembered> = {}) => new Map(Object.entries(entries));

const dirs: string[] = [];
const tmp = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-alert-memory-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const quiet = { warn: () => {} };

describe('asking the server before playing an alert again', () => {
  it('a memory read whole never asks: an alert it lacks is new to this site', () => {
    expect(askServerFirst(true, mem(), start(), T + 60_000)).toBe(false);
  });

  it('a lost memory asks for an alert issued before this run, not for one issued after it', () => {
    expect(askServerFirst(false, mem(), start(), T + 600_000)).toBe(true);
    expect(askServerFirst(false, mem(), start({ at: T + 600_000 + ASK_MARGIN_MS + 1 }), T + 600_000)).toBe(false);
  });

  it('a lost memory that still holds the revision as finished does not ask; one left "playing" (interrupted) does', () => {
    expect(askServerFirst(false, mem({ 'alr-1': { revision: 2, outcome: 'completed', at: T } }), start(), T + 600_000)).toBe(false);
    expect(askServerFirst(false, mem({ 'alr-1': { revision: 2, outcome: 'playing', at: T } }), start(), T + 600_000)).toBe(true);
    expect(askServerFirst(false, mem({ 'alr-1': { revision: 1, outcome: 'completed', at: T } }), start(), T + 600_000)).toBe(true);
  });

  it("the server's final status for this revision (or a newer one) means it played here; anything else plays", () => {
    expect(handledPerServer({ revision: 2, status: 'completed' }, start())).toBe('completed');
    expect(handledPerServer({ revision: 2, status: 'stopped' }, start())).toBe('stopped');
    expect(handledPerServer({ revision: 3, status: 'failed' }, start())).toBe('failed');
    expect(handledPerServer({ revision: 1, status: 'completed' }, start())).toBeNull();
    for (const status of ['pending', 'received', 'playing'] as const) expect(handledPerServer({ revision: 2, status }, start())).toBeNull();
  });
});

describe('the alert memory says whether it was read whole', () => {
  it('from its newest good copy: complete', async () => {
    const dir = tmp();
    await writeJsonAtomic(path.join(dir, 'alerts.json'), { 'alr-1': { revision: 2, outcome: 'completed', at: T } });
    const m = new AlertMemory(dir, quiet);
    await m.load(T + 1000);
    expect(m.complete).toBe(true);
    expect(m.view.get('alr-1')?.outcome).toBe('completed');
  });

  it('absent, damaged, or only the previous copy: not complete', async () => {
    const absent = new AlertMemory(tmp(), quiet);
    await absent.load(T);
    expect(absent.complete).toBe(false);

    const dir = tmp();
    const file = path.join(dir, 'alerts.json');
    await writeJsonAtomic(file, { 'alr-1': { revision: 1, outcome: 'completed', at: T } });
    await writeJsonAtomic(file, { 'alr-1': { revision: 1, outcome: 'completed', at: T }, 'alr-2': { revision: 1, outcome: 'completed', at: T } });
    fs.truncateSync(file, 40);
    const fromPrev = new AlertMemory(dir, quiet);
    await fromPrev.load(T + 1000);
    expect(fromPrev.complete).toBe(false);
    expect([...fromPrev.view.keys()]).toEqual(['alr-1']); // alr-2 is what the torn copy lost
  });
});
