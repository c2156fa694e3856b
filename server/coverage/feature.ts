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

export function coverageFeature(deps: RouteDeps & Pick<ServerContext, 'fleet' | 'commands' | 'config' | 'disk' | 'log'> & { policy: CoveragePolicy }): Feature {
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
  return {
    name: 'coverage',
    routes: [coverageRoutes(deps)],
    async start() {
      // History can wait: paused while the disk is low, so logins, alerts and receipts keep the room.
      jobs.every('history', config.historyIntervalS * 1000, () => (disk.refuses('history') ? undefined : coverage.snapshot()));
      soundChecks.start();
      await coverage.snapshot();
    },
    stop() {
      jobs.stop();
      soundChecks.stop();
    },
  };
}
