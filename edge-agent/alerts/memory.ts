/**
 * The agent's memory of alerts (decide.ts), kept in `stateDir/alerts.json`
 * so that a restarted agent, which gets the retained alert_start again from
 * the broker, does not play a finished alert a second time. Written durably
 * and checked on reading (state-file.ts); a damaged newest copy falls back to
 * the previous one. Without a stateDir it lives in memory only.
 *
 * `complete`: the memory was read from its newest good copy. When it was not
 * (absent, damaged, only the previous copy), an alert it does not know may
 * still have played here before: the handler asks the server first.
 */
import { join } from 'node:path';
import { prune, type AlertOutcome, type Remembered } from './decide.ts';
import { readStateFile, writeJsonAtomic } from '../state-file.ts';

export const ALERT_MEMORY_FILE = 'alerts.json';

export class AlertMemory {
  private map = new Map<string, Remembered>();
  private chain: Promise<void> = Promise.resolve();
  private loadedWhole = false;

  constructor(
    private readonly dir: string | undefined,
    private readonly log: { warn(m: string): void },
  ) {}

  get view(): ReadonlyMap<string, Remembered> {
    return this.map;
  }

  /** Whether what was loaded is the newest good copy: every alert handled here before is in it. */
  get complete(): boolean {
    return this.loadedWhole;
  }

  async load(serverNow: number): Promise<void> {
    if (!this.dir) return;
    const read = await readStateFile(join(this.dir, ALERT_MEMORY_FILE), 'alert memory', (m) => this.log.warn(m));
    this.loadedWhole = (read.from === 'current' || read.from === 'legacy') && !read.damaged;
    const raw = read.value;
    if (raw === null || typeof raw !== 'object') return;
    const entries = Object.entries(raw as Record<string, Remembered>).filter(
      ([, r]) => typeof r?.revision === 'number' && typeof r.at === 'number' && typeof r.outcome === 'string',
    );
    this.map = prune(new Map(entries), serverNow);
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
