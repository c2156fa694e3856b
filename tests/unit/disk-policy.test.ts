/** What the server still writes as the data folder's disk fills (server/store/disk-policy.ts), as a pure function. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checkDiskLimits, decideDisk, refusalMessage, refuses, type DiskLimits } from '../../server/store/disk-policy.ts';

const MB = 1024 * 1024;
const L: DiskLimits = { reserveBytes: 64 * MB, lowBytes: 500 * MB, criticalBytes: 50 * MB };

describe('disk policy', () => {
  it('plenty of space with the reserve in place: everything is accepted, nothing to do', () => {
    expect(decideDisk({ freeBytes: 10_000 * MB, reserveHeldBytes: 64 * MB }, L)).toEqual({
      state: 'ok',
      release: false,
      restore: false,
      freeBytes: 10_000 * MB,
      reserveHeldBytes: 64 * MB,
      refused: [],
    });
  });

  it('at first start with room, the reserve is written; without room for it and lowBytes after, it is not', () => {
    expect(decideDisk({ freeBytes: 10_000 * MB, reserveHeldBytes: 0 }, L)).toMatchObject({ state: 'ok', restore: true, freeBytes: 9936 * MB, reserveHeldBytes: 64 * MB });
    expect(decideDisk({ freeBytes: 563 * MB, reserveHeldBytes: 0 }, L)).toMatchObject({ state: 'reserve', restore: false, refused: ['media', 'history', 'change'] });
    expect(decideDisk({ freeBytes: 564 * MB, reserveHeldBytes: 0 }, L)).toMatchObject({ state: 'ok', restore: true, freeBytes: 500 * MB });
  });

  it('under the low level uploads and history stop first; logins, alerts and receipts are never in the refused list', () => {
    const d = decideDisk({ freeBytes: 499 * MB, reserveHeldBytes: 64 * MB }, L);
    expect(d).toMatchObject({ state: 'low', release: false, restore: false, refused: ['media', 'history'] });
    expect(refuses('low', 'media')).toBe(true);
    expect(refuses('low', 'history')).toBe(true);
    expect(refuses('low', 'change')).toBe(false);
  });

  it('under the critical level the reserve is given up, and then only what cannot wait is written', () => {
    const d = decideDisk({ freeBytes: 49 * MB, reserveHeldBytes: 64 * MB }, L);
    expect(d).toEqual({ state: 'reserve', release: true, restore: false, freeBytes: 113 * MB, reserveHeldBytes: 0, refused: ['media', 'history', 'change'] });
  });

  it('a write that failed with ENOSPC / SQLITE_FULL gives the reserve up whatever statfs said', () => {
    expect(decideDisk({ freeBytes: 300 * MB, reserveHeldBytes: 64 * MB, writeFailed: true }, L)).toMatchObject({ state: 'reserve', release: true, freeBytes: 364 * MB });
    // Nothing left to give: full, whatever statfs said a moment ago.
    expect(decideDisk({ freeBytes: 300 * MB, reserveHeldBytes: 0, writeFailed: true }, { ...L, reserveBytes: 0 })).toMatchObject({ state: 'full', release: false });
  });

  it('with the reserve spent and the disk still filling: full', () => {
    expect(decideDisk({ freeBytes: 10 * MB, reserveHeldBytes: 0 }, L)).toMatchObject({ state: 'full', release: false, restore: false, refused: ['media', 'history', 'change'] });
  });

  it('the reserve comes back only when writing it leaves the low level free (hysteresis): released stays released until space is freed', () => {
    // Just after the release: 113 MB free, not enough to take 64 back and keep 500.
    expect(decideDisk({ freeBytes: 113 * MB, reserveHeldBytes: 0 }, L)).toMatchObject({ state: 'reserve', restore: false });
    expect(decideDisk({ freeBytes: 520 * MB, reserveHeldBytes: 0 }, L)).toMatchObject({ state: 'reserve', restore: false });
    expect(decideDisk({ freeBytes: 600 * MB, reserveHeldBytes: 0 }, L)).toMatchObject({ state: 'ok', restore: true, freeBytes: 536 * MB });
    // A reserve partly written (the disk filled while it was) is completed later the same way.
    expect(decideDisk({ freeBytes: 600 * MB, reserveHeldBytes: 60 * MB }, L)).toMatchObject({ state: 'ok', restore: true, reserveHeldBytes: 64 * MB });
  });

  it('without a reserve (LOANET_DISK_RESERVE_MB=0): ok, low, then full under the critical level', () => {
    const n = { ...L, reserveBytes: 0 };
    expect(decideDisk({ freeBytes: 600 * MB, reserveHeldBytes: 0 }, n).state).toBe('ok');
    expect(decideDisk({ freeBytes: 400 * MB, reserveHeldBytes: 0 }, n).state).toBe('low');
    expect(decideDisk({ freeBytes: 40 * MB, reserveHeldBytes: 0 }, n).state).toBe('full');
  });

  it('never oscillates: applying a decision and reading again gives no opposite action', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 64 }), (freeMb, heldMb) => {
        const d1 = decideDisk({ freeBytes: freeMb * MB, reserveHeldBytes: heldMb * MB }, L);
        const d2 = decideDisk({ freeBytes: d1.freeBytes, reserveHeldBytes: d1.reserveHeldBytes }, L);
        expect(d2.release && d1.restore).toBe(false);
        expect(d2.restore && d1.release).toBe(false);
        expect(d2.state).toBe(d1.state);
      }),
    );
  });

  it('the states are ordered: less free space never accepts more', () => {
    const order = { ok: 0, low: 1, reserve: 2, full: 3 } as const;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2000 }), (a, b) => {
        const [lo, hi] = a < b ? [a, b] : [b, a];
        const sLo = decideDisk({ freeBytes: lo * MB, reserveHeldBytes: 64 * MB }, L).state;
        const sHi = decideDisk({ freeBytes: hi * MB, reserveHeldBytes: 64 * MB }, L).state;
        expect(order[sLo]).toBeGreaterThanOrEqual(order[sHi]);
      }),
    );
  });

  it('limits are checked: the critical level must be under the low level', () => {
    expect(checkDiskLimits(L)).toBeNull();
    expect(checkDiskLimits({ ...L, criticalBytes: 500 * MB })).toMatch(/critical level must be under the low level/);
  });

  it('a refusal says what is paused, what is full, and what to free', () => {
    const m = refusalMessage('media', { state: 'low', freeBytes: 12.5 * MB }, L);
    expect(m).toContain('uploads and text to speech');
    expect(m).toContain('12 MB free');
    expect(m).toContain('LOANET_DISK_LOW_MB');
    expect(m).toContain('retire old media');
    expect(refusalMessage('change', { state: 'reserve', freeBytes: 60 * MB }, L)).toMatch(/changes other than logins, alerts and live broadcasts.*64 MB reserve/);
  });
});
