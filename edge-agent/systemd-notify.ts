/**
 * The agent under systemd (packaging/loanet-agent.service: Type=notify,
 * WatchdogSec=): `READY=1` once it plays from its own disk, then `WATCHDOG=1`
 * only while it is really alive, so that a hung agent is killed and started
 * again instead of sitting silent in a village.
 *
 * Alive means two things, judged by `WatchdogGate` (pure):
 * - its event loop runs: the check is a timer on that loop, so a blocked loop
 *   (a busy loop, a synchronous call that never returns) sends nothing;
 * - while its link is up, its heartbeats still go out: a heartbeat loop that
 *   stalled (a lost timer, a promise that never settles) for 3 heartbeat
 *   intervals stops the pings. While the link is down nothing is asked of it:
 *   a board on a dead 4G link plays its playlist and alerts from disk and is
 *   healthy; restarting it would only lose time.
 *
 * How the datagrams go out: $NOTIFY_SOCKET is a unix DATAGRAM socket and Node
 * has none (net speaks stream sockets, dgram only UDP), and a native addon for
 * it would be a second thing to cross-compile. So `systemd-notify VAR=VALUE`
 * sends each, a short child process every WatchdogSec/3 (systemd's unit sets
 * NotifyAccess=all so it accepts them from the unit's other processes;
 * systemd-notify waits until the manager has read the message unless given
 * --no-block (bookworm's, 252, does), so none is lost to the child exiting
 * before systemd could tell which unit it belonged to). One at a time, in order: a ping due
 * while an earlier notification is still on its way is skipped, not queued.
 *
 * Outside systemd (no NOTIFY_SOCKET) nothing is sent and nothing is spawned.
 */
import { spawn } from 'node:child_process';

/** What the gate looks at, from the agent's counters (EdgeAgent.stats). */
export interface LivenessSample {
  now: number;
  connected: boolean;
  /** Successful connections so far: a new one restarts the heartbeat wait. */
  connects: number;
  heartbeatsSent: number;
}

export type Liveness = { alive: true } | { alive: false; why: string };

/**
 * Is the agent's loop alive? Pure: fed samples, it remembers when the
 * heartbeats last moved.
 */
export class WatchdogGate {
  private readonly stallMs: number;
  private last: LivenessSample | undefined;
  private progressAt = 0;

  /** `stallIntervals` heartbeat intervals without one, while connected, is a stall (default 3: one lost to jitter or a slow broker is not). */
  constructor(heartbeatIntervalMs: number, stallIntervals = 3) {
    if (!(heartbeatIntervalMs > 0) || !(stallIntervals >= 1)) throw new RangeError('WatchdogGate: the heartbeat interval and stall count must be positive');
    this.stallMs = heartbeatIntervalMs * stallIntervals;
  }

  check(s: LivenessSample): Liveness {
    const prev = this.last;
    this.last = s;
    // Progress: the first look, a heartbeat sent, a new connection, or the link coming up.
    if (!prev || s.heartbeatsSent !== prev.heartbeatsSent || s.connects !== prev.connects || (s.connected && !prev.connected)) this.progressAt = s.now;
    if (!s.connected) return { alive: true };
    const quiet = s.now - this.progressAt;
    if (quiet > this.stallMs) return { alive: false, why: `connected, but no heartbeat sent for ${Math.round(quiet / 1000)} s (more than ${Math.round(this.stallMs / 1000)} s)` };
    return { alive: true };
  }
}

export interface NotifyEnvironment {
  /** Where systemd listens; undefined: not under systemd with Type=notify. */
  socket: string | undefined;
  /** How often to ping (a third of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises less than half); undefined: no watchdog for this process. */
  watchdogEveryMs: number | undefined;
}

/** Read systemd's variables (sd_notify(3), sd_watchdog_enabled(3)). Pure. */
export function notifyEnvironment(env: Record<string, string | undefined>, pid: number): NotifyEnvironment {
  const socket = env.NOTIFY_SOCKET || undefined;
  const usec = Number(env.WATCHDOG_USEC);
  // WATCHDOG_PID names the process the watchdog is for; a child that inherited the variables is not it.
  const forUs = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === '' || Number(env.WATCHDOG_PID) === pid;
  const watchdogEveryMs = socket && Number.isFinite(usec) && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 1000 / 3)) : undefined;
  return { socket, watchdogEveryMs };
}

/** Sends one notification (VAR=VALUE lines); resolves when it is delivered, rejects when it could not be. */
export type NotifySender = (assignments: readonly string[]) => Promise<void>;

/** `systemd-notify VAR=VALUE…`, bounded: killed after 10 s (it waits up to 5 s for the manager). */
export const systemdNotifySender: NotifySender = (assignments) =>
  new Promise((resolve, reject) => {
    const child = spawn('systemd-notify', [...assignments], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < 500) err += d.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`systemd-notify ${assignments.join(' ')} exited with ${code ?? signal}${err ? `: ${err.trim()}` : ''}`));
    });
  });

export interface SystemdNotifierOptions {
  env?: Record<string, string | undefined>;
  pid?: number;
  send?: NotifySender;
  log: { info(m: string): void; warn(m: string): void };
}

/** The shell around WatchdogGate: READY, the watchdog timer, STOPPING. Inert outside systemd. */
export class SystemdNotifier {
  private readonly env: NotifyEnvironment;
  private readonly send: NotifySender;
  private readonly log: SystemdNotifierOptions['log'];
  private timer: NodeJS.Timeout | undefined;
  /** Notifications made and not yet delivered (or failed), and the last of them: the next goes after it. */
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();
  private withheld = false;
  /** Pings sent and withheld: for tests and the log. */
  readonly stats = { pings: 0, withheld: 0, failed: 0 };

  constructor(o: SystemdNotifierOptions) {
    this.env = notifyEnvironment(o.env ?? process.env, o.pid ?? process.pid);
    this.send = o.send ?? systemdNotifySender;
    this.log = o.log;
  }

  get enabled(): boolean {
    return this.env.socket !== undefined;
  }

  /** READY=1 with a status line, then the watchdog (when systemd asked for one), judging liveness by `sample`. */
  ready(status: string, gate: WatchdogGate, sample: () => LivenessSample): void {
    if (!this.enabled) return;
    this.notify(['READY=1', `STATUS=${status}`], 'READY');
    const every = this.env.watchdogEveryMs;
    if (every === undefined) return;
    this.log.info(`systemd watchdog: a ping every ${Math.round(every / 1000)} s while alive`);
    this.timer = setInterval(() => this.tick(gate, sample()), every);
    this.timer.unref();
  }

  /** One watchdog decision (the timer's body; tests call it directly). */
  tick(gate: WatchdogGate, s: LivenessSample): void {
    const live = gate.check(s);
    if (!live.alive) {
      this.stats.withheld++;
      // Said once per stall: the journal shows why systemd is about to restart the agent.
      if (!this.withheld) this.log.warn(`systemd watchdog: not pinging, the agent looks hung: ${live.why}`);
      this.withheld = true;
      return;
    }
    this.withheld = false;
    if (this.queued > 0) return;
    this.stats.pings++;
    this.notify(['WATCHDOG=1'], 'WATCHDOG');
  }

  /**
   * Still starting, and not stuck: systemd extends the start by `withinMs` (EXTEND_TIMEOUT_USEC), past
   * TimeoutStartSec, as long as the words keep coming. A board waiting for its 4G link to enrol says so at
   * every try; one hung before READY says nothing, and systemd kills and restarts it.
   */
  starting(status: string, withinMs: number): void {
    if (!this.enabled) return;
    this.notify([`EXTEND_TIMEOUT_USEC=${Math.ceil(withinMs) * 1000}`, `STATUS=${status.replace(/\n/g, ' ').slice(0, 200)}`], 'EXTEND_TIMEOUT_USEC');
  }

  /** STOPPING=1: a planned stop, so systemd does not count the exit against the watchdog. */
  stopping(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.enabled) this.notify(['STOPPING=1'], 'STOPPING');
  }

  /**
   * Sent one after the other, in the order made: each is a child process, and two started at once may reach
   * systemd in either order. A start extension that arrived after the next one would replace it: "trying again
   * in 300 s" undone by the older "enrolling" (30 s), and systemd would kill a board that was only waiting.
   */
  private notify(assignments: string[], what: string): void {
    this.queued++;
    this.tail = this.tail
      .then(() => this.send(assignments))
      .catch((e: unknown) => {
        this.stats.failed++;
        this.log.warn(`systemd ${what} notification failed: ${(e as Error).message}`);
      })
      .finally(() => {
        this.queued--;
      });
  }
}
