/**
 * LeasedWork: a feature's singleton work runs only while its lease is held,
 * never twice, and a stop that arrives while an async start is still under
 * way waits for it, then stops it. The keeper is a hand-driven stand-in: what
 * the work sees is the events and `term()` the real keeper gives.
 */
import { describe, expect, it } from 'vitest';
import type { LeaseEvent, LeaseListener } from '../../server/cluster/lease-keeper.ts';
import type { LeaseName } from '../../server/cluster/lease-policy.ts';
import type { LeaseTerm } from '../../server/cluster/lease-store.ts';
import { type HeldLease, LeasedWork } from '../../server/cluster/leased-work.ts';
import type { Logger } from '../../server/fleet/broker.ts';

class HandKeeper {
  held: LeaseTerm | undefined;
  private readonly listeners = new Set<LeaseListener>();
  listen(l: LeaseListener) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  term(name: LeaseName) {
    return this.held?.name === name ? this.held : undefined;
  }
  owns(name: LeaseName) {
    return this.term(name) !== undefined;
  }
  async emit(e: LeaseEvent) {
    this.held = e.kind === 'acquired' ? { name: e.name, token: e.token } : undefined;
    await Promise.all([...this.listeners].map((l) => l(e)));
  }
}

const errors: unknown[] = [];
const log: Logger = { info: () => {}, warn: () => {}, error: (o) => errors.push(o) };

function recorder() {
  const calls: string[] = [];
  let current: HeldLease | undefined;
  let release: (() => void) | undefined;
  const task = {
    slowStart: false,
    failStart: false,
    async start(lease: HeldLease) {
      calls.push(`start ${lease.term.token}`);
      current = lease;
      if (task.slowStart) await new Promise<void>((r) => (release = r));
      if (task.failStart) throw new Error('cannot start');
      calls.push(`started ${lease.term.token}`);
    },
    stop() {
      calls.push('stop');
    },
  };
  return { task, calls, lease: () => current, finishStart: () => release?.() };
}

describe('work under a lease', () => {
  it('starts when the lease is acquired, stops when it is lost, and ignores the loss of a term it does not run', async () => {
    const k = new HandKeeper();
    const r = recorder();
    const w = new LeasedWork(k, 'alerts', r.task, log);
    await w.start();
    expect(w.running).toBe(false);
    await k.emit({ name: 'playlists', kind: 'acquired', token: 1 });
    expect(r.calls).toEqual([]);
    await k.emit({ name: 'alerts', kind: 'acquired', token: 3 });
    expect(w.running).toBe(true);
    expect(r.lease()!.owns()).toBe(true);
    await k.emit({ name: 'alerts', kind: 'lost', token: 2, reason: 'taken' });
    expect(w.running).toBe(true);
    await k.emit({ name: 'alerts', kind: 'lost', token: 3, reason: 'expired' });
    expect(r.lease()!.owns()).toBe(false);
    expect(r.calls).toEqual(['start 3', 'started 3', 'stop']);
    expect(w.running).toBe(false);
  });

  it('a lease already held when the work is attached starts it at once; detaching stops it and hears no more', async () => {
    const k = new HandKeeper();
    k.held = { name: 'history', token: 5 };
    const r = recorder();
    const w = new LeasedWork(k, 'history', r.task, log);
    await w.start();
    await w.stop();
    await k.emit({ name: 'history', kind: 'acquired', token: 6 });
    expect(r.calls).toEqual(['start 5', 'started 5', 'stop']);
  });

  it('a loss during a slow start waits for the start, then stops the work; the old term no longer owns', async () => {
    const k = new HandKeeper();
    const r = recorder();
    r.task.slowStart = true;
    const w = new LeasedWork(k, 'live', r.task, log);
    await w.start();
    const acquired = k.emit({ name: 'live', kind: 'acquired', token: 1 });
    await new Promise((res) => setImmediate(res));
    const lost = k.emit({ name: 'live', kind: 'lost', token: 1, reason: 'expired' });
    expect(r.lease()!.owns()).toBe(false);
    r.finishStart();
    await Promise.all([acquired, lost]);
    expect(r.calls).toEqual(['start 1', 'started 1', 'stop']);
    expect(w.running).toBe(false);
  });

  it('a new term (another server held it in between) restarts the work with the new token', async () => {
    const k = new HandKeeper();
    const r = recorder();
    const w = new LeasedWork(k, 'playlists', r.task, log);
    await w.start();
    await k.emit({ name: 'playlists', kind: 'acquired', token: 1 });
    const first = r.lease()!;
    await k.emit({ name: 'playlists', kind: 'lost', token: 1, reason: 'taken' });
    await k.emit({ name: 'playlists', kind: 'acquired', token: 4 });
    expect(first.owns()).toBe(false);
    expect(r.lease()!.owns()).toBe(true);
    expect(r.calls).toEqual(['start 1', 'started 1', 'stop', 'start 4', 'started 4']);
  });

  it('a start that fails is logged and stopped; the work is not running', async () => {
    errors.length = 0;
    const k = new HandKeeper();
    const r = recorder();
    r.task.failStart = true;
    const w = new LeasedWork(k, 'sound-checks', r.task, log);
    await w.start();
    await k.emit({ name: 'sound-checks', kind: 'acquired', token: 1 });
    expect(w.running).toBe(false);
    expect(r.calls).toEqual(['start 1', 'stop']);
    expect(errors).toHaveLength(1);
  });
});
