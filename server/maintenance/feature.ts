/**
 * The maintenance log as a feature of the server: the service (service.ts),
 * started after the alarms (orders are made from them) and the fleet (its
 * verdicts and sound checks close resolved orders), and its routes.
 */
import type { ServerContext } from '../context.ts';
import { Jobs, type Feature } from '../feature.ts';
import { maintenanceRoutes } from './routes.ts';
import { MaintenanceService } from './service.ts';
import { WorkOrderStore } from './store.ts';

/** The service, built by the composition root (the console's stream listens to it). Alarms are read through `alarms()`: built in the same context. */
export function maintenanceService(
  deps: Pick<ServerContext, 'store' | 'fleet' | 'commands' | 'users' | 'coverage' | 'log' | 'disk' | 'now'> & { alarms: () => Pick<ServerContext['alarms'], 'alarm'> },
): MaintenanceService {
  return new MaintenanceService({
    store: new WorkOrderStore(deps.store.db),
    alarms: { alarm: (id) => deps.alarms().alarm(id) },
    fleet: deps.fleet,
    commands: deps.commands,
    users: deps.users,
    areaPath: (areaId) => deps.coverage.areaPath(areaId),
    jobs: Jobs.of(deps),
    log: deps.log,
    now: deps.now,
  });
}

export function maintenanceFeature(ctx: Pick<ServerContext, 'coverage' | 'fleet' | 'audit' | 'alarms' | 'users' | 'maintenance'>): Feature {
  return {
    name: 'maintenance',
    routes: [maintenanceRoutes(ctx)],
    start: () => ctx.maintenance.start(),
    stop: () => ctx.maintenance.stop(),
  };
}
