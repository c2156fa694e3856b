/**
 * The agent's systemd watchdog (edge-agent/systemd-notify.ts): when it pings
 * and when it withholds the ping so systemd restarts a hung agent, read from
 * systemd's variables, with the sender injected (the real one spawns
 * systemd-notify; the package test sees its datagrams arrive).
 */
import { describe, expect, it } from 'vitest';
import { notifyEnvironment, SystemdNotifier, WatchdogGate, type LivenessSample } from '../../edge-agent/systemd-notify.ts';

const HB = 30_000;
const sample = (now: number, over: Partial<LivenessSample> = {}): LivenessSample => ({ now, connected: true, connects: 1, heartbeatsSent: 0, ...over });

describe('WatchdogGate: is the loop alive', () => {
  it('connected and sending heartbeats: alive at every check', () => {
    const gate = new WatchdogGate(HB);
    for (let i = 0; i < 20; i++) expect(gate.check(sample(i * HB, { heartbeatsSent: i }))).toEqual({ alive: true });
  });

  it('connected with no heartbeat for more than 3 intervals: hung, and alive again once one goes out', () => {
    const gate = new WatchdogGate(HB);
    expect(gate.check(sample(0, { heartbeatsSent: 5 })).alive).toBe(true);
    // Exactly 3 intervals is still within the allowance (one heartbeat late to jitter, one lost).
    expect(gate.check(sample(3 * HB, { heartbeatsSent: 5 })).alive).toBe(true);
    const hung = gate.check(sample(3 * HB + 1, { heartbeatsSent: 5 }));
    expect(hung).toEqual({ alive: false, why: 'connected, but no heartbeat sent for 90 s (more than 90 s)' });
    expect(gate.check(sample(5 * HB, { heartbeatsSent: 5 })).alive).toBe(false);
    expect(gate.check(sample(5 * HB + 1, { heartbeatsSent: 6 })).alive).toBe(true);
  });

  it('offline (a dead 4G link) is not hung, however long: the agent plays from disk', () => {
    const gate = new WatchdogGate(HB);
    expect(gate.check(sample(0, { connected: false })).alive).toBe(true);
    expect(gate.check(sample(24 * 3600_000, { connected: false })).alive).toBe(true);
  });

  it('a link that comes up, or a new connection, starts the wait for heartbeats afresh', () => {
    const gate = new WatchdogGate(HB);
    gate.check(sample(0, { connected: false, connects: 0 }));
    expect(gate.check(sample(10 * HB, { connected: true, connects: 1 })).alive).toBe(true);
    expect(gate.check(sample(13 * HB, { connected: true, connects: 1 })).alive).toBe(true);
    expect(gate.check(sample(13 * HB + 1, { connected: true, connects: 1 })).alive).toBe(false);
    // Dropped and reconnected between two checks: connected both times, but a new connection.
    expect(gate.check(sample(14 * HB, { connected: true, connects: 2 })).alive).toBe(true);
  });

  it('refuses a heartbeat interval that is not positive', () => {
    expect(() => new WatchdogGate(0)).toThrow(RangeError);
  });
});

describe("systemd's variables", () => {
  it('the watchdog for this process pings three times per WATCHDOG_USEC', () => {
    expect(notifyEnvironment({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }, 42)).toEqual({
      socket: '/run/systemd/notify',
      watchdogEveryMs: 20_000,
    });
    expect(notifyEnvironment({ NOTIFY_SOCKET: '@abstract', WATCHDOG_USEC: '60000000' }, 42)).toEqual({ socket: '@abstract', watchdogEveryMs: 20_000 });
  });

  it('no watchdog for another process (a child that inherited the variables), without WATCHDOG_USEC, or outside systemd', () => {
    expect(notifyEnvironment({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '60000000', WATCHDOG_PID: '41' }, 42).watchdogEveryMs).toBeUndefined();
    expect(notifyEnvironment({ NOTIFY_SOCKET: '/run/systemd/notify' }, 42)).toEqual({ socket: '/run/systemd/notify', watchdogEveryMs: undefined });
    expect(notifyEnvironment({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: 'soon' }, 42).watchdogEveryMs).toBeUndefined();
    expect(notifyEnvironment({ WATCHDOG_USEC: '60000000' }, 42)).toEqual({ socket: undefined, watchdogEveryMs: undefined });
  });
});

describe('SystemdNotifier', () => {
  const quiet = () => {
    const lines: string[] = [];
    return { lines, log: { info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`) } };
  };

  it('outside systemd sends nothing at all', () => {
    const sent: string[][] = [];
    const n = new SystemdNotifier({ env: {}, pid: 1, send: async (a) => void sent.push([...a]), ...quiet() });
    expect(n.enabled).toBe(false);
    n.ready('site x', new WatchdogGate(HB), () => sample(0));
    n.starting('enrolling', 60_000);
    n.stopping();
    expect(sent).toEqual([]);
  });

  it('while starting (enrolling before READY), each word extends the start by what it says, on one line of status', async () => {
    const sent: string[][] = [];
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, pid: 7, send: async (a) => void sent.push([...a]), ...quiet() });
    n.starting('enrolling with /var/lib/loanet-agent/enrol.txt', 60_000);
    n.starting('enrolment: cannot reach http://x\nsecond line; trying again in 10 s', 40_000.4);
    await new Promise<void>((r) => setImmediate(r));
    expect(sent).toEqual([
      ['EXTEND_TIMEOUT_USEC=60000000', 'STATUS=enrolling with /var/lib/loanet-agent/enrol.txt'],
      ['EXTEND_TIMEOUT_USEC=40001000', 'STATUS=enrolment: cannot reach http://x second line; trying again in 10 s'],
    ]);
  });

  it('sends each notification after the one before has been delivered, in the order made (a slow child never lets an older word overtake a newer one)', async () => {
    const releases: Array<() => void> = [];
    const sent: string[][] = [];
    const n = new SystemdNotifier({
      env: { NOTIFY_SOCKET: '/run/x' },
      pid: 7,
      send: (a) => {
        sent.push([...a]);
        return new Promise<void>((r) => releases.push(r));
      },
      ...quiet(),
    });
    const settle = () => new Promise<void>((r) => setImmediate(r));
    n.starting('enrolling with /boot/loanet-enrol.txt', 30_000);
    n.starting('enrolment: cannot reach http://x; trying again in 300 s', 330_000);
    n.ready('site lc-01', new WatchdogGate(HB), () => sample(0));
    await settle();
    expect(sent.map((a) => a[0])).toEqual(['EXTEND_TIMEOUT_USEC=30000000']);
    releases.shift()!();
    await settle();
    expect(sent.map((a) => a[0])).toEqual(['EXTEND_TIMEOUT_USEC=30000000', 'EXTEND_TIMEOUT_USEC=330000000']);
    releases.shift()!();
    await settle();
    expect(sent.at(-1)).toEqual(['READY=1', 'STATUS=site lc-01']);
    releases.shift()!();
  });

  it('says READY with a status, pings while alive, withholds (saying why once) while hung, and says STOPPING', async () => {
    const sent: string[][] = [];
    const { lines, log } = quiet();
    const n = new SystemdNotifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '60000000' }, pid: 7, send: async (a) => void sent.push([...a]), log });
    const gate = new WatchdogGate(HB);
    const settle = () => new Promise<void>((r) => setImmediate(r));
    n.ready('site lc-01', gate, () => sample(0));
    await settle();
    expect(sent).toEqual([['READY=1', 'STATUS=site lc-01']]);
    n.tick(gate, sample(1, { heartbeatsSent: 1 }));
    await settle();
    n.tick(gate, sample(HB, { heartbeatsSent: 2 }));
    await settle();
    expect(sent.slice(1)).toEqual([['WATCHDOG=1'], ['WATCHDOG=1']]);
    // The heartbeat loop stalls: no ping, one warning however many checks.
    n.tick(gate, sample(5 * HB, { heartbeatsSent: 2 }));
    n.tick(gate, sample(6 * HB, { heartbeatsSent: 2 }));
    await settle();
    expect(sent).toHaveLength(3);
    expect(n.stats).toMatchObject({ pings: 2, withheld: 2 });
    expect(lines.filter((l) => l.startsWith('warn systemd watchdog: not pinging'))).toHaveLength(1);
    n.stopping();
    await settle();
    expect(sent.at(-1)).toEqual(['STOPPING=1']);
  });

  it('skips a ping while the previous notification is still on its way, and logs a failed one', async () => {
    let release: () => void = () => {};
    const sent: string[][] = [];
    const { lines, log } = quiet();
    const n = new SystemdNotifier({
      env: { NOTIFY_SOCKET: '/run/x' },
      pid: 7,
      send: (a) => {
        sent.push([...a]);
        if (a[0] === 'WATCHDOG=1' && sent.length === 2) return Promise.reject(new Error('systemd-notify exited with 1'));
        return new Promise<void>((r) => (release = r));
      },
      log,
    });
    const gate = new WatchdogGate(HB);
    n.ready('s', gate, () => sample(0));
    n.tick(gate, sample(1, { heartbeatsSent: 1 }));
    await new Promise<void>((r) => setImmediate(r));
    expect(sent).toEqual([['READY=1', 'STATUS=s']]);
    release();
    await new Promise<void>((r) => setImmediate(r));
    n.tick(gate, sample(2, { heartbeatsSent: 2 }));
    await new Promise<void>((r) => setImmediate(r));
    expect(sent.at(-1)).toEqual(['WATCHDOG=1']);
    expect(n.stats.failed).toBe(1);
    expect(lines).toContain('warn systemd WATCHDOG notification failed: systemd-notify exited with 1');
  });
});
