/**
 * The notifications' shell: turns alarm signals (model.ts AlarmSignal: from
 * the alarms service through alarm-signals.ts, or fed by hand) into people
 * told, through the pure policy (policy.ts), and carries out its effects:
 * each batch stored in one transaction with the outbox messages it enqueues
 * (store.ts apply), then pushed to the consoles' event streams (listen) and
 * to the phones (push-sender.ts).
 *
 * - Signals and ticks run one at a time, in order: the policy's state and
 *   the store never see two batches interleave; what queues up meanwhile is
 *   one batch, one transaction (see run()).
 * - Time: every decision reads the injected clock; the timer that wakes the
 *   service when the policy is next due is real time, capped at a minute so
 *   a clock that moved (a test, NTP) is noticed.
 * - A restart restores every open alarm's track from the store: a delay or
 *   an escalation pending at the stop runs at its time (or at once, if that
 *   passed), and nobody told before is told again.
 * - Rules and recipients are read at start and after every change through
 *   this service; a change of users or rules elsewhere (another server) is seen within `refreshMs`
 *   (the policy decides synchronously, so it holds the users in memory).
 */
import type { Logger } from '../fleet/broker.ts';
import type { AlarmEventData, JsonValue, OutboxEventType } from '../outbox/model.ts';
import type { Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';
import type { AlarmRef, AlarmSignal, NotificationEffect, NotificationRule, Recipient } from './model.ts';
import { type AreaPaths, DEFAULT_ANNOUNCE_DELAY_MS, NotificationPolicy, type PolicyOptions } from './policy.ts';
import { DEFAULT_QUIET_HOURS } from './model.ts';
import type { NewNotification, Notification, NotificationStore, RuleInput } from './store.ts';
import type { PushSender } from './push-sender.ts';

/** What the service uses of the outbox (server/outbox/outbox.ts Outbox). */
export interface OutboxPort {
  enqueue(type: OutboxEventType, payload: JsonValue, trx?: Transaction<Database>): Promise<unknown>;
  notify(): void;
}

export interface NotificationServiceDeps {
  store: NotificationStore;
  tree: AreaPaths;
  /** Every enabled user who may be told (server/auth). */
  recipients: () => Promise<Recipient[]>;
  outbox?: OutboxPort;
  push?: PushSender;
  log: Logger;
  clock: () => number;
  options?: Partial<PolicyOptions>;
  /** A site's name for the outbox's receivers (they have no other way to read it). */
  siteName?: (siteId: string) => string | undefined;
  /** How often users are read again (default 15 s: a technician added is told within it) and due pushes looked for (default 5 s). */
  refreshMs?: number;
  pushPollMs?: number;
}

export type NotificationListener = (n: Notification) => void;

/** What reconcile needs to know of an alarm now. */
export interface AlarmNow {
  state: 'pending' | 'raised' | 'acknowledged' | 'cleared';
  acknowledgedBy: string | null;
}

/** Notifications read from the store at once by mirror(). */
const MIRROR_BATCH = 500;

/** Signals decided and written in one transaction at most. */
const MAX_BATCH = 2000;

export class NotificationService {
  readonly name = 'notifications';
  private readonly policy: NotificationPolicy;
  private chain: Promise<void> = Promise.resolve();
  private readonly queue: Array<{ decide: () => NotificationEffect[]; resolve: () => void; reject: (err: unknown) => void }> = [];
  private draining = false;
  /** Effects decided but not stored (the store failed): written first with the next batch. */
  private unwritten: NotificationEffect[] = [];
  private writeFailures = 0;
  private readonly listeners = new Set<NotificationListener>();
  /** The newest notification this server's listeners were told of (theirs or mirrored); unknown until the first mirror. */
  private mirroredId: number | undefined;
  private mirroring: Promise<number> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timers: NodeJS.Timeout[] = [];
  private running = false;
  private pushing: Promise<unknown> | undefined;

  constructor(private readonly deps: NotificationServiceDeps) {
    this.policy = new NotificationPolicy(deps.tree, {
      quietHours: DEFAULT_QUIET_HOURS,
      announceDelayMs: DEFAULT_ANNOUNCE_DELAY_MS,
      ...deps.options,
    });
  }

  async start(): Promise<void> {
    this.policy.setRules(await this.deps.store.rules());
    this.policy.setRecipients(await this.deps.recipients());
    this.policy.restore(await this.deps.store.tracks());
    this.running = true;
    this.every(this.deps.refreshMs ?? 15_000, () => this.refreshRecipients());
    this.every(5_000, () => (this.unwritten.length > 0 ? this.run(() => []) : Promise.resolve()));
    if (this.deps.push) this.every(this.deps.pushPollMs ?? 5_000, () => this.deliverPushes());
    this.schedule();
    // What was pending at the last stop goes out now.
    void this.deliverPushes();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.chain;
    await this.pushing;
  }

  /** An alarm signal: resolves once its effects are stored. */
  handle(signal: AlarmSignal): Promise<void> {
    return this.run(() => this.policy.step(signal));
  }

  /** Carries out what is due at the clock's now (the timer calls it; tests that move the clock too). */
  runDue(): Promise<void> {
    return this.run(() => this.policy.tick(this.deps.clock()));
  }

  /** A listener of every notification once stored (the console's event stream); returns its unsubscribe. */
  listen(fn: NotificationListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * On a server that does not run the notifier (another holds 'alarms'): the
   * notifications the holder stored since the last look go to this server's
   * listeners, so a console whose stream this server answers still hears
   * them. Ids grow in commit order: the one holder writes them one
   * transaction after another.
   */
  mirror(): Promise<number> {
    // One look at a time: two overlapping ones (a slow store) would tell the same rows twice.
    this.mirroring ??= this.mirrorOnce().finally(() => {
      this.mirroring = undefined;
    });
    return this.mirroring;
  }

  private async mirrorOnce(): Promise<number> {
    if (this.mirroredId === undefined) this.mirroredId = await this.deps.store.lastId();
    let told = 0;
    for (;;) {
      const batch = await this.deps.store.after(this.mirroredId, MIRROR_BATCH);
      for (const n of batch) this.tell(n);
      told += batch.length;
      if (batch.length < MIRROR_BATCH) return told;
    }
  }

  private tell(n: Notification): void {
    if (this.mirroredId === undefined || n.id > this.mirroredId) this.mirroredId = n.id;
    for (const fn of this.listeners) {
      try {
        fn(n);
      } catch (err) {
        this.deps.log.error({ err }, 'notifications: a listener failed');
      }
    }
  }

  /** Reads the users again (a user added, disabled or moved), and the rules (changed through another server). */
  async refreshRecipients(): Promise<void> {
    const users = await this.deps.recipients();
    const rules = await this.deps.store.rules();
    await this.run(() => {
      this.policy.setRecipients(users);
      this.policy.setRules(rules);
      return [];
    });
  }

  /**
   * Checks the alarms it follows against what the alarms say now, and ends
   * or stops what it missed (an event lost as the server died): a track
   * whose alarm is cleared or gone is closed, one acknowledged stops
   * escalating. Without it such a track would wait, and escalate, forever.
   */
  async reconcile(alarmNow: (alarmId: string) => Promise<AlarmNow | undefined>): Promise<number> {
    let fixed = 0;
    for (const t of this.policy.tracked()) {
      const a = await alarmNow(t.alarmId);
      const at = this.deps.clock();
      if (!a || a.state === 'cleared') {
        await this.handle({ type: 'alarm_closed', at, alarmId: t.alarmId, by: null, note: null });
        fixed++;
      } else if (a.state === 'acknowledged' && !t.acknowledged) {
        await this.handle({ type: 'alarm_acknowledged', at, alarmId: t.alarmId, by: a.acknowledgedBy ?? '', note: null });
        fixed++;
      }
    }
    return fixed;
  }

  /**
   * The shown alarms it does not follow, followed now as if just raised at
   * their `at` (the rules' delays count from it): a holder that died after
   * storing an alarm and before storing its track left it untold. An alarm
   * it follows, or one acknowledged (nobody is told of an owned alarm), is
   * left as it is. Returns how many it took up.
   */
  async adopt(alarms: ReadonlyArray<{ alarm: AlarmRef; at: number }>): Promise<number> {
    let n = 0;
    await this.run(() =>
      alarms.flatMap(({ alarm, at }) => {
        if (this.policy.track(alarm.alarmId)) return [];
        n++;
        return this.policy.step({ type: 'alarm_due', at, alarm, cause: 'raised' });
      }),
    );
    return n;
  }

  rules(): Promise<NotificationRule[]> {
    return this.deps.store.rules();
  }

  async createRule(input: RuleInput): Promise<NotificationRule> {
    const r = await this.deps.store.createRule(input, this.deps.clock());
    await this.reloadRules();
    return r;
  }

  async updateRule(id: number, input: RuleInput): Promise<NotificationRule | undefined> {
    const r = await this.deps.store.updateRule(id, input, this.deps.clock());
    await this.reloadRules();
    return r;
  }

  async deleteRule(id: number): Promise<boolean> {
    const gone = await this.deps.store.deleteRule(id);
    await this.reloadRules();
    return gone;
  }

  /** A pass of Web Push over what is due (tests call it; the loop does every pushPollMs). */
  async deliverPushes(): Promise<void> {
    const push = this.deps.push;
    if (!push) return;
    // One pass at a time; a caller that came during one gets a pass of its own after it (what it stored may have missed it).
    while (this.pushing) await this.pushing;
    this.pushing = push
      .deliverDue()
      .catch((err: unknown) => this.deps.log.error({ err }, 'web push: a pass failed; retried at the next'))
      .finally(() => {
        this.pushing = undefined;
      });
    await this.pushing;
  }

  /** After a rule changed here: the users too, so the technician added just before the rule is in its scope at once. */
  private async reloadRules(): Promise<void> {
    await this.refreshRecipients();
  }

  /**
   * Queues `decide` (a signal or a tick through the policy). What queues up
   * while a batch is being written is decided and written together, in one
   * transaction (a broker restart's thousands of alarms are a few
   * transactions, not thousands). A batch whose write failed is kept and
   * written before the next one, and retried every few seconds: the policy
   * has already decided it, and what it decided must not be lost.
   */
  private run(decide: () => NotificationEffect[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ decide, resolve, reject });
      if (!this.draining) {
        this.draining = true;
        this.chain = this.drain();
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_BATCH);
        const effects = [...this.unwritten];
        for (const b of batch) effects.push(...b.decide());
        try {
          if (effects.length > 0) await this.carryOut(effects);
          this.unwritten = [];
          for (const b of batch) b.resolve();
        } catch (err) {
          this.unwritten = effects;
          if (this.writeFailures++ % 10 === 0)
            this.deps.log.error({ err, effects: effects.length, failures: this.writeFailures }, 'notifications: storing a batch failed; kept and retried');
          for (const b of batch) b.reject(err);
        }
      }
    } finally {
      this.draining = false;
      this.schedule();
    }
  }

  private async carryOut(effects: NotificationEffect[]): Promise<void> {
    const saved = new Map<string, Extract<NotificationEffect, { type: 'track_saved' }>['track']>();
    const closed: string[] = [];
    const told: NewNotification[] = [];
    const announce: Extract<NotificationEffect, { type: 'announce' }>[] = [];
    for (const e of effects) {
      switch (e.type) {
        case 'track_saved':
          saved.set(e.track.alarm.alarmId, e.track);
          break;
        case 'track_closed':
          saved.delete(e.alarmId);
          closed.push(e.alarmId);
          break;
        case 'tell':
          for (const userId of e.userIds) told.push({ userId, alarm: e.alarm, cause: e.cause, ruleId: e.ruleId, step: e.step, at: e.at });
          break;
        case 'announce':
          announce.push(e);
          break;
        default: {
          const never: never = e;
          throw new Error(`unknown notification effect ${(never as { type: string }).type}`);
        }
      }
    }
    const outbox = this.deps.outbox;
    const enqueue =
      outbox && announce.length > 0
        ? async (trx: Transaction<Database>) => {
            for (const a of announce) await outbox.enqueue(a.event, this.eventData(a) as unknown as JsonValue, trx);
          }
        : undefined;
    const stored = await this.deps.store.apply({ saved: [...saved.values()], closed, told }, this.deps.clock(), enqueue);
    if (enqueue) outbox!.notify();
    for (const n of stored) this.tell(n);
    if (stored.some((n) => n.push.state === 'pending')) void this.deliverPushes();
  }

  private eventData(a: Extract<NotificationEffect, { type: 'announce' }>): AlarmEventData {
    const siteName = this.deps.siteName?.(a.alarm.siteId);
    return {
      alarmId: a.alarm.alarmId,
      siteId: a.alarm.siteId,
      ...(siteName === undefined ? {} : { siteName }),
      kind: a.alarm.kind,
      severity: a.alarm.severity,
      ...(a.by === null ? {} : { by: a.by }),
      ...(a.note === null ? {} : { note: a.note }),
    };
  }

  private schedule(): void {
    if (!this.running) return;
    clearTimeout(this.timer);
    const due = this.policy.nextDueAt();
    if (due === null) return;
    const wait = Math.min(60_000, Math.max(0, due - this.deps.clock()));
    this.timer = setTimeout(() => {
      this.runDue().catch(() => {
        // Logged by the chain; the next schedule retries.
      });
    }, wait);
    this.timer.unref();
  }

  private every(ms: number, fn: () => Promise<void>): void {
    const t = setInterval(() => {
      fn().catch((err: unknown) => this.deps.log.error({ err }, 'notifications: a periodic job failed'));
    }, ms);
    t.unref();
    this.timers.push(t);
  }
}
