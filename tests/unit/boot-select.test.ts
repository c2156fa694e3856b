import { describe, expect, it } from 'vitest';
import { BOOT_FORMAT, COMMITTED_STARTS, TRIAL_STARTS, inactiveSlot, isBootState, selectBoot, type BootState, type SlotCheck } from '../../edge-agent/update/boot-select.ts';

const ok = (version: string): SlotCheck => ({ ok: true, version });
const broken: SlotCheck = { ok: false, why: 'main.mjs: missing' };
const trial = (tries: number, slot: 'a' | 'b' = 'b', version = '1.3.0') => ({ slot, version, rolloutId: 'r1', releaseId: 'agent-1-3-0', fromVersion: '1.2.0', tries, since: 5 });

describe('selectBoot', () => {
  it('runs the package program and writes a first state when there is none', () => {
    const d = selectBoot({ state: undefined, factoryVersion: '1.2.0', slots: {}, now: 1 });
    expect(d).toMatchObject({ run: 'factory', version: '1.2.0', trial: false });
    expect(d.write).toEqual({ format: BOOT_FORMAT, committed: { slot: 'factory', version: '1.2.0' } });
  });

  it('runs the committed slot, counting its starts until it reaches the server; past 5 the package program runs', () => {
    let state: BootState = { format: 1, committed: { slot: 'a', version: '1.3.0' } };
    for (let start = 1; start <= COMMITTED_STARTS; start++) {
      const d = selectBoot({ state, factoryVersion: '1.2.0', slots: { a: ok('1.3.0') }, now: 1 });
      expect(d).toMatchObject({ run: 'a', version: '1.3.0', trial: false });
      expect(d.write?.committed).toEqual({ slot: 'a', version: '1.3.0', starts: start });
      state = d.write!;
    }
    const d = selectBoot({ state, factoryVersion: '1.2.0', slots: { a: ok('1.3.0') }, now: 1 });
    expect(d).toMatchObject({ run: 'factory', version: '1.2.0' });
    expect(d.write?.committed).toEqual({ slot: 'factory', version: '1.2.0' });
  });

  it('counts each trial start before it runs, then returns to the committed version with crash_loop on the 4th start', () => {
    let state: BootState = { format: 1, committed: { slot: 'factory', version: '1.2.0' }, trial: trial(0) };
    for (let start = 1; start <= TRIAL_STARTS; start++) {
      const d = selectBoot({ state, factoryVersion: '1.2.0', slots: { b: ok('1.3.0') }, now: 10 });
      expect(d).toMatchObject({ run: 'b', version: '1.3.0', trial: true });
      expect(d.write?.trial?.tries).toBe(start);
      state = d.write!;
    }
    const d = selectBoot({ state, factoryVersion: '1.2.0', slots: { b: ok('1.3.0') }, now: 99 });
    expect(d).toMatchObject({ run: 'factory', version: '1.2.0', trial: false });
    expect(d.write?.trial).toBeUndefined();
    expect(d.write?.last).toMatchObject({ state: 'rolled_back', reason: 'crash_loop', version: '1.3.0', fromVersion: '1.2.0', rolloutId: 'r1', at: 99 });
    // and the start after that stays on the committed version without writing again
    const again = selectBoot({ state: d.write, factoryVersion: '1.2.0', slots: {}, now: 100 });
    expect(again).toMatchObject({ run: 'factory', write: undefined });
  });

  it('returns to a committed slot (not the package) after a crash loop', () => {
    const state: BootState = { format: 1, committed: { slot: 'a', version: '1.3.0' }, trial: trial(TRIAL_STARTS, 'b', '1.4.0') };
    const d = selectBoot({ state, factoryVersion: '1.2.0', slots: { a: ok('1.3.0'), b: ok('1.4.0') }, now: 1 });
    expect(d).toMatchObject({ run: 'a', version: '1.3.0', trial: false });
    expect(d.write?.last?.reason).toBe('crash_loop');
  });

  it('abandons a trial whose slot is broken, holds another version, or is the committed one', () => {
    const base: BootState = { format: 1, committed: { slot: 'factory', version: '1.2.0' }, trial: trial(0) };
    for (const slots of [{ b: broken }, { b: ok('1.3.1') }, {}]) {
      const d = selectBoot({ state: base, factoryVersion: '1.2.0', slots, now: 1 });
      expect(d).toMatchObject({ run: 'factory', trial: false });
      expect(d.write?.last).toMatchObject({ state: 'rolled_back', reason: 'install_failed' });
    }
    const same = selectBoot({ state: { format: 1, committed: { slot: 'b', version: '1.3.0' }, trial: trial(0) }, factoryVersion: '1.2.0', slots: { b: ok('1.3.0') }, now: 1 });
    expect(same).toMatchObject({ run: 'b', trial: false });
    expect(same.write?.trial).toBeUndefined();
  });

  it('falls back to the package program when the committed slot is missing or broken', () => {
    const state: BootState = { format: 1, committed: { slot: 'a', version: '1.3.0' } };
    for (const slots of [{ a: broken }, {}, { a: ok('1.2.9') }]) {
      const d = selectBoot({ state, factoryVersion: '1.2.0', slots, now: 1 });
      expect(d).toMatchObject({ run: 'factory', version: '1.2.0' });
      expect(d.write?.committed).toEqual({ slot: 'factory', version: '1.2.0' });
    }
  });

  it('lets a package newer than the committed slot win (apt upgraded it), also over a trial', () => {
    const state: BootState = { format: 1, committed: { slot: 'a', version: '1.3.0' } };
    const d = selectBoot({ state, factoryVersion: '1.4.0', slots: { a: ok('1.3.0') }, now: 1 });
    expect(d).toMatchObject({ run: 'factory', version: '1.4.0' });
    expect(d.write?.committed).toEqual({ slot: 'factory', version: '1.4.0' });
    const t = selectBoot({ state: { ...state, trial: trial(0, 'b', '1.3.5') }, factoryVersion: '1.4.0', slots: { a: ok('1.3.0'), b: ok('1.3.5') }, now: 1 });
    expect(t).toMatchObject({ run: 'factory', version: '1.4.0', trial: false });
  });

  it('keeps a committed slot newer than the package, and records a new package version as committed', () => {
    const d = selectBoot({ state: { format: 1, committed: { slot: 'b', version: '1.3.0' } }, factoryVersion: '1.3.0', slots: { b: ok('1.3.0') }, now: 1 });
    expect(d).toMatchObject({ run: 'b' });
    expect(d.write?.committed.slot).toBe('b');
    const f = selectBoot({ state: { format: 1, committed: { slot: 'factory', version: '1.1.0' } }, factoryVersion: '1.2.0', slots: {}, now: 1 });
    expect(f.write?.committed.version).toBe('1.2.0');
  });

  it('installs into the slot that is not committed', () => {
    expect(inactiveSlot(undefined)).toBe('a');
    expect(inactiveSlot({ format: 1, committed: { slot: 'factory', version: '1' } })).toBe('a');
    expect(inactiveSlot({ format: 1, committed: { slot: 'a', version: '1' } })).toBe('b');
    expect(inactiveSlot({ format: 1, committed: { slot: 'b', version: '1' } })).toBe('a');
  });
});

describe('isBootState', () => {
  it('takes only a boot state it understands', () => {
    expect(isBootState({ format: 1, committed: { slot: 'a', version: '1.0.0' } })).toBe(true);
    expect(isBootState({ format: 1, committed: { slot: 'a', version: '1.0.0' }, trial: trial(2) })).toBe(true);
    for (const bad of [
      null,
      7,
      {},
      { format: 2, committed: { slot: 'a', version: '1' } },
      { format: 1, committed: { slot: 'c', version: '1' } },
      { format: 1, committed: { slot: 'a', version: '1' }, trial: { ...trial(1), tries: -1 } },
      { format: 1, committed: { slot: 'a', version: '1' }, trial: { ...trial(1), slot: 'factory' } },
    ]) {
      expect(isBootState(bad)).toBe(false);
    }
  });
});
