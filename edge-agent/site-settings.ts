/**
 * Settings changed by command (today the acoustic delay), kept in
 * `{stateDir}/settings.json` across restarts.
 */
import { readJsonFile, writeJsonAtomic } from './state-file.ts';
import type { AgentLogger } from './agent-log.ts';

export const SETTINGS_FILE = 'settings.json';

/** The range the config file and the set_acoustic_delay command allow (metres). */
export const ACOUSTIC_DELAY_RANGE_M = { min: -100, max: 1000 } as const;

/** What a command set and the agent keeps in `{stateDir}/settings.json`. */
export interface SiteSettingsFile {
  v: 1;
  /** Set by set_acoustic_delay; absent: the config's audio.acousticDelayM. */
  acousticDelayM?: number;
}

/**
 * Settings changed by command, optionally kept in a JSON file (written to a
 * temp file, then renamed) so a restart keeps them. A value the file lacks,
 * or holds out of range, falls back to the config file's.
 */
export class SiteSettings {
  private saved: SiteSettingsFile = { v: 1 };
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: string | undefined,
    private readonly log: AgentLogger,
  ) {}

  async load(): Promise<void> {
    if (!this.file) return;
    const raw = await readJsonFile(this.file, 'settings', (m) => this.log.warn(m));
    const m = (raw as { acousticDelayM?: unknown } | null)?.acousticDelayM;
    if (m === undefined) return;
    if (typeof m === 'number' && Number.isFinite(m) && m >= ACOUSTIC_DELAY_RANGE_M.min && m <= ACOUSTIC_DELAY_RANGE_M.max) this.saved = { v: 1, acousticDelayM: m };
    else this.log.warn(`ignoring acousticDelayM ${JSON.stringify(m)} in ${this.file}: not a number of metres from ${ACOUSTIC_DELAY_RANGE_M.min} to ${ACOUSTIC_DELAY_RANGE_M.max}`);
  }

  get acousticDelayM(): number | undefined {
    return this.saved.acousticDelayM;
  }

  /** Resolves once the file holds the new value; rejects (keeping the old one) if it cannot be written. */
  setAcousticDelayM(metres: number): Promise<void> {
    const next: SiteSettingsFile = { ...this.saved, acousticDelayM: metres };
    const file = this.file;
    const write = this.writing.then(async () => {
      if (file) await writeJsonAtomic(file, next);
      this.saved = next;
    });
    this.writing = write.catch(() => {});
    return write.catch((e: unknown) => {
      throw new Error(`cannot save settings ${file}: ${(e as Error).message}; acoustic delay unchanged`);
    });
  }

  flush(): Promise<void> {
    return this.writing;
  }
}
