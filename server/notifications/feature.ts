/**
 * Who is told, as a feature of the server: the service (service.ts) built by
 * the composition root, so the console's event stream can listen to it;
 * started before the alarms feature, so that no alarm event of the alarms'
 * own start (a site found faulty again) passes before it listens; its routes
 * (routes.ts).
 *
 * With several servers only the holder of the 'alarms' lease tells people:
 * the alarms run there (alarms/service.ts), and the notifier follows their
 * events in this process. It starts on acquisition from the store's tracks
 * (a delay under way at a dead holder's end runs out here, told once: the
 * tracks hold who was told) and stops on loss; the alarm events of the
 * holder's start, heard before the service restored, wait for it. A signal
 * goes to the notifier only once the alarm it is about is written (settled),
 * so no track is kept of an alarm a dead holder never stored; and a shown
 * alarm stored without its track (the holder died between the two) is
 * followed by the next holder from when it was shown (service.adopt). The
 * other servers read what the holder stored every MIRROR_MS and tell their
 * own consoles (service.mirror), so a person's bell rings whichever server
 * the load balancer gave their stream to.
 */
import type { ServerContext } from '../context.ts';
import { type Feature, Jobs } from '../feature.ts';
import { signalOfAlarmEffect } from './alarm-signals.ts';
import type { AlarmSignal } from './model.ts';
import { PushSender } from './push-sender.ts';
import { notificationRoutes } from './routes.ts';
import { NotificationService, type OutboxPort } from './service.ts';
import { NotificationStore } from './store.ts';
import { loadVapidKeys } from './web-push.ts';

/** RFC 8292 §2.1: a contact push services may write to about this server's pushes. */
export const DEFAULT_VAPID_SUBJECT = 'mailto:noc@loanet.invalid';

export interface Notifications {
  service: NotificationService;
  store: NotificationStore;
  /** The VAPID public key browsers subscribe with. */
  vapidPublicKey: string;
}

/** `outbox` is asked for when an event is enqueued: the composition root builds it in the same context object. */
export function notifications(deps: Pick<ServerContext, 'store' | 'config' | 'coverage' | 'users' | 'fleet' | 'log' | 'now'> & { outbox: () => OutboxPort }): Notifications {
  const store = new NotificationStore(deps.store.db);
  const keys = loadVapidKeys(deps.config.sharedDir);
  const push = new PushSender({ store, keys, subject: DEFAULT_VAPID_SUBJECT, log: deps.log, clock: deps.now });
  const service = new NotificationService({
    store,
    tree: { path: (areaId) => deps.coverage.areaPath(areaId) },
    recipients: async () => (await deps.users.list()).filter((u) => u.disabledAt === null).map((u) => ({ id: u.id, role: u.role, areaId: u.areaId })),
    outbox: { enqueue: (type, payload, trx) => deps.outbox().enqueue(type, payload, trx), notify: () => deps.outbox().notify() },
    push,
    log: deps.log,
    clock: deps.now,
    siteName: (id) => deps.fleet.observation(id)?.name,
  });
  return { service, store, vapidPublicKey: keys.publicKey };
}

/** How far behind the holder a console on another server hears its notifications. */
const MIRROR_MS = 2000;
/** How often the alarms followed are checked against the alarms (reconcile). */
const RECONCILE_MS = 10 * 60_000;
/** Notifications are kept a year (a province's year of "who was told"), then deleted once a day. */
const KEEP_MS = 365 * 86_400_000;
const PURGE_MS = 86_400_000;

export function notificationsFeature(
  ctx: Pick<ServerContext, 'notifications' | 'alarms' | 'coverage' | 'fleet' | 'audit' | 'users' | 'now' | 'log' | 'disk' | 'cluster'>,
): Feature {
  const { service, store, vapidPublicKey } = ctx.notifications;
  const jobs = Jobs.of(ctx);
  let unlisten: (() => void) | undefined;
  /** Whether the service runs here (this server holds 'alarms'), and the signals heard before it did. */
  let ready = false;
  let waiting: AlarmSignal[] = [];
  const send = (signal: AlarmSignal) => {
    // After the alarm's write: a failed write is logged by the service (once in ten, not once per alarm of a storm) and kept for the next.
    ctx.alarms
      .settled()
      .then(() => service.handle(signal))
      .catch(() => undefined);
  };
  // An alarm event lost as the server died (cleared, acknowledged) is found here, not left escalating for ever.
  const reconcile = async () => {
    const fixed = await service.reconcile(async (id) => {
      const a = await ctx.alarms.alarm(id);
      return a && { state: a.state, acknowledgedBy: a.acknowledged?.by ?? null };
    });
    if (fixed > 0) ctx.log.warn({ fixed }, 'notifications: alarms followed that had ended or been acknowledged unseen');
  };
  const leased = ctx.cluster.leased('alarms', {
    async start() {
      await service.start();
      ready = true;
      for (const s of waiting.splice(0)) send(s);
      await reconcile();
      // An alarm the last holder stored but died before following: followed from when it was shown.
      await ctx.alarms.settled();
      const untold = ctx.alarms.unowned().map((a) => ({
        at: a.raisedAt ?? a.detectedAt,
        alarm: { alarmId: a.id, siteId: a.siteId, areaId: a.areaId, kind: a.kind, severity: a.severity, incidentId: a.incidentId },
      }));
      const adopted = await service.adopt(untold);
      if (adopted > 0) ctx.log.warn({ adopted }, 'notifications: shown alarms nobody followed (their holder died first) are followed now');
    },
    async stop() {
      ready = false;
      waiting = [];
      await service.stop();
    },
  });
  return {
    name: 'notifications',
    routes: [notificationRoutes({ ...ctx, service, store, vapidPublicKey })],
    async start() {
      unlisten = ctx.alarms.onAlarmEvent((e) => {
        if (!ctx.cluster.owns('alarms')) return;
        const signal = signalOfAlarmEffect(e);
        if (!signal) return;
        if (ready) send(signal);
        else waiting.push(signal);
      });
      // From now on, a console on this server hears what the holder stores while another server holds 'alarms'.
      await service.mirror();
      await leased.start();
      jobs.every('notifications.mirror', MIRROR_MS, () => (ctx.cluster.owns('alarms') ? undefined : service.mirror()));
      jobs.every('notifications.reconcile', RECONCILE_MS, ctx.cluster.whileHeld('alarms', reconcile));
      jobs.every(
        'notifications.purge',
        PURGE_MS,
        ctx.cluster.whileHeld('alarms', async () => {
          const n = await store.purge(ctx.now() - KEEP_MS);
          if (n > 0) ctx.log.info({ purged: n }, 'notifications: older than a year deleted');
        }),
      );
    },
    async stop() {
      jobs.stop();
      unlisten?.();
      await leased.stop();
    },
  };
}
