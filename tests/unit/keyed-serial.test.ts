import { describe, expect, it } from 'vitest';
import { KeyedSerial } from '../../server/keyed-serial.ts';

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Every callback already queued has run (a macrotask comes after all pending microtasks). */
const settled = () => new Promise<void>((r) => setImmediate(r));

describe('KeyedSerial', () => {
  it('runs the tasks of one key one after another, in the order queued, each after the one before has finished', async () => {
    const serial = new KeyedSerial();
    const log: string[] = [];
    const gates = [deferred(), deferred(), deferred()];
    const runs = gates.map((g, i) =>
      serial.run('alert-1', async () => {
        log.push(`start ${i}`);
        await g.promise;
        log.push(`end ${i}`);
        return i;
      }),
    );
    await settled();
    expect(log).toEqual(['start 0']);
    // Released out of order: the second still waits for the first.
    gates[1]!.resolve();
    await settled();
    expect(log).toEqual(['start 0']);
    gates[0]!.resolve();
    await settled();
    expect(log).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2']);
    gates[2]!.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2]);
  });

  it('runs tasks of different keys at the same time', async () => {
    const serial = new KeyedSerial();
    const gate = deferred();
    const started: string[] = [];
    const a = serial.run('a', async () => {
      started.push('a');
      await gate.promise;
    });
    const b = serial.run('b', async () => {
      started.push('b');
      await gate.promise;
    });
    await settled();
    // Both started while neither has finished.
    expect(started.sort()).toEqual(['a', 'b']);
    gate.resolve();
    await Promise.all([a, b]);
  });

  it('rejects a failed task to its caller only: the next task of its key still runs', async () => {
    const serial = new KeyedSerial();
    const failing = serial.run('k', () => Promise.reject(new Error('disk full')));
    const throwing = serial.run('k', () => {
      throw new Error('thrown before any await');
    });
    const next = serial.run('k', async () => 'ran');
    await expect(failing).rejects.toThrow('disk full');
    await expect(throwing).rejects.toThrow('thrown before any await');
    expect(await next).toBe('ran');
  });

  it('holds a key only while it has tasks queued or running', async () => {
    const serial = new KeyedSerial();
    const gate = deferred();
    const first = serial.run('k', () => gate.promise);
    const second = serial.run('k', () => Promise.reject(new Error('refused')));
    const other = serial.run('other', async () => undefined);
    expect(serial.pending).toBe(2);
    await other;
    await settled();
    expect(serial.pending).toBe(1);
    gate.resolve();
    await first;
    await expect(second).rejects.toThrow('refused');
    await settled();
    expect(serial.pending).toBe(0);
    // A key used again after it drained starts a new chain.
    expect(await serial.run('k', async () => 'again')).toBe('again');
    await settled();
    expect(serial.pending).toBe(0);
  });
});
