/**
 * Verified coverage: which villages can hear an announcement now and why not,
 * its history (a snapshot every LOANET_HISTORY_INTERVAL_S) and the scheduled
 * sound checks that keep the monitoring microphones' proof fresh.
 */
import { Jobs, type Feature } from '../feature.ts';
import type { ServerContext } from '../context.ts';
import type { CoveragePolicy } from './model.ts';
import { SoundCheckScheduler } from './sound-check-scheduler.ts';
import { coverageRoutes, type RouteDeps } from './routes.ts';

export function coverageFeature(deps: RouteDeps & Pick<ServerContext, 'fleet' | 'commands' | 'config' | 'disk' | 'log' | 'cluster'> & { policy: CoveragePolicy }): Feature {
  const { coverage, config, disk } = deps;
  const jobs = Jobs.of(deps);
  const soundChecks = new SoundCheckScheduler({
    fleet: deps.fleet,
    commands: deps.commands,
    policy: deps.policy,
    now: deps.now,
    log: deps.log,
    guard: (name, fn) => jobs.guard(name, fn),
    schedule: { intervalH: config.soundCheckIntervalH, periodS: config.soundCheckPeriodS, batch: config.soundCheckBatch, quietHours: config.soundCheckQuietHours },
  });
  // Each on one server: a snapshot at once when it takes the work over, then every period; the scheduled checks likewise.
  const historyJobs = Jobs.of(deps);
  const history = deps.cluster.leased('history', {
    async start() {
      // History can wait: paused while the disk is low, so logins, alerts and receipts keep the room.
      historyJobs.every('history', config.historyIntervalS * 1000, () => (disk.refuses('history') ? undefined : coverage.snapshot()));
      await coverage.snapshot();
    },
    stop: () => historyJobs.stop(),
  });
  const checks = deps.cluster.leased('sound-checks', { start: () => soundChecks.start(), stop: () => soundChecks.stop() });
  return {
    name: 'coverage',
    routes: [coverageRoutes(deps)],
    async start() {
      await history.start();
      await checks.start();
    },
    async stop() {
      await checks.stop();
      await history.stop();
      jobs.stop();
    },
  };
}
