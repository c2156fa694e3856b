/**
 * The agent's memory of alerts (decide.ts), kept in `stateDir/alerts.json`
 * so that a restarted agent, which gets the retained alert_start again from
 * the broker, does not play a finished alert a second time. Written whole to
 * a temp file and renamed (atomic on POSIX): a crash leaves the old or the new
 * file, never half of one. Without a stateDir it lives in memory only.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { prune, type AlertOutcome, type Remembered } from './decide.ts';
import { writeJsonAtomic } from '../state-file.ts';

export const ALERT_MEMORY_FILE = 'alerts.json';

export class AlertMemory {
  private map = new Map<string, Remembered>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly dir: string | undefined,
    private readonly log: { warn(m: string): void },
  ) {}

  get view(): ReadonlyMap<string, Remembered> {
    return this.map;
  }

  async load(serverNow: number): Promise<void> {
    if (!this.dir) return;
    try {
      const raw = JSON.parse(await readFile(join(this.dir, ALERT_MEMORY_FILE), 'utf8')) as Record<string, Remembered>;
      const entries = Object.entries(raw).filter(([, r]) => typeof r?.revision === 'number' && typeof r.at === 'number' && typeof r.outcome === 'string');
      this.map = prune(new Map(entries), serverNow);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn(`alert memory unreadable, starting empty: ${(e as Error).message}`);
    }
  }

  set(alertId: string, revision: number, outcome: AlertOutcome, at: number): void {
    this.map.set(alertId, { revision, outcome, at });
    this.save();
  }

  private save(): void {
    const dir = this.dir;
    if (!dir) return;
    const snapshot = Object.fromEntries(this.map);
    this.chain = this.chain.then(async () => {
      try {
        await writeJsonAtomic(join(dir, ALERT_MEMORY_FILE), snapshot);
      } catch (e) {
        this.log.warn(`alert memory not saved: ${(e as Error).message}`);
      }
    });
  }

  /** Resolves when every change so far is on disk (tests, shutdown). */
  flushed(): Promise<void> {
    return this.chain;
  }
}
