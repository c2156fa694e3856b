/**
 * Scheduled sound checks, the shell around the pure planner
 * (sound-check-planner.ts): every `periodS` it asks which sites are due and
 * sends each a `sound_check` command, at most `batch` per run. A site stays
 * "pending" while its check waits in the command queue, so a site that is
 * slow to answer is not sent a second one meanwhile.
 */
import type { CommandService } from '../fleet/commands.ts';
import type { FleetState } from '../fleet/fleet-state.ts';
import type { Logger } from '../fleet/broker.ts';
import type { CoveragePolicy } from './model.ts';
import { planSoundChecks } from './sound-check-planner.ts';

export interface SoundCheckSchedule {
  /** Hours between two checks of one site; 0: no scheduled checks. */
  intervalH: number;
  /** How often the plan is made (s). */
  periodS: number;
  /** Sites checked per run at most. */
  batch: number;
  quietHours: { startHour: number; endHour: number } | null;
}

export interface SoundCheckSchedulerDeps {
  fleet: Pick<FleetState, 'observations'>;
  commands: Pick<CommandService, 'issue' | 'pendingFor'>;
  policy: CoveragePolicy;
  schedule: SoundCheckSchedule;
  now: () => number;
  log: Logger;
  /** Wraps a background job so a failure is logged, never fatal (the composition root's). */
  guard: (name: string, fn: () => void) => () => void;
}

/** How long a scheduled check may wait for its site (s): past it the command expires and the site is due again at the next interval. */
const CHECK_TTL_S = 600;

export class SoundCheckScheduler {
  private readonly pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly d: SoundCheckSchedulerDeps) {}

  start(): void {
    if (this.d.schedule.intervalH <= 0 || this.timer) return;
    this.timer = setInterval(
      this.d.guard('sound-checks', () => this.run()),
      this.d.schedule.periodS * 1000,
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One run: resolves with the sites sent a check now. */
  async run(): Promise<string[]> {
    const { fleet, commands, policy, schedule, now, log } = this.d;
    for (const c of [...this.pending]) if (!(await commands.pendingFor(c)).some((x) => x.type === 'sound_check')) this.pending.delete(c);
    const due = planSoundChecks(fleet.observations(), now(), {
      intervalMs: schedule.intervalH * 3600 * 1000,
      maxPerRun: schedule.batch,
      pending: this.pending,
      policy,
      quietHours: schedule.quietHours ? { ...schedule.quietHours, timeZone: policy.timeZone } : undefined,
    });
    for (const id of due) {
      this.pending.add(id);
      commands.issue(id, 'sound_check', {}, CHECK_TTL_S, 'scheduler').catch((err: unknown) => log.error({ siteId: id, err }, 'scheduled sound check not issued'));
    }
    return due;
  }
}
