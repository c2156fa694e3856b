/**
 * The site configuration the server delivered (protocol/site-config.ts),
 * applied and kept in `{stateDir}/site-config.json` (checked, written
 * atomically, owner-only), so a board that restarts without a link still
 * listens to the area channels the server last gave it, and plays an alert's
 * language versions in the order of the languages it was last given.
 *
 * The delivered configuration wins over agent.json: its `areaChannels` is
 * only the fallback before the first delivery. So no local file can leave a
 * board deaf to the area the server has it in. Whatever the server delivers
 * is applied, newer or not: it is the server's current word (a server whose
 * store was replaced counts its revisions from 1 again), and the broker
 * keeps only the newest on the topic.
 */
import { decodeSiteConfig, type SiteConfigMessage, type SiteConfigReport } from '../protocol/index.ts';
import { readStateFile, writeJsonAtomic } from './state-file.ts';
import type { AgentLogger } from './agent-log.ts';

export const SITE_CONFIG_FILE = 'site-config.json';

/** What a site speaks when its configuration says nothing of languages. */
export const DEFAULT_SITE_LANGUAGES: readonly string[] = ['vi'];

export type SiteConfigOutcome = 'new' | 'same' | 'wrong_site';

export class HeldSiteConfig {
  private held: SiteConfigMessage | undefined;
  /**
   * What the heartbeat reports: the held configuration once its write has
   * settled (kept, or found unwritable and logged). Reported earlier, a power
   * cut between the report and the write would bring the board back on the
   * old configuration while the server had seen the new one applied.
   */
  private reported: SiteConfigMessage | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly siteId: string,
    private readonly file: string | undefined,
    private readonly log: AgentLogger,
  ) {}

  /** The kept configuration, when there is one that checks out and is this site's. */
  async load(): Promise<void> {
    if (!this.file) return;
    const read = await readStateFile(this.file, 'site configuration', (m) => this.log.warn(m));
    if (read.value === undefined) return;
    const checked = decodeSiteConfig.check(read.value);
    if (!checked.ok) {
      this.log.warn(`ignoring the kept site configuration ${this.file}: ${checked.error.reason}; agent.json's area channels apply until the server delivers one`);
      return;
    }
    if (checked.value.siteId !== this.siteId) {
      this.log.warn(`ignoring the kept site configuration ${this.file}: it is site ${checked.value.siteId}'s`);
      return;
    }
    this.held = checked.value;
    this.reported = checked.value;
  }

  get current(): SiteConfigMessage | undefined {
    return this.held;
  }

  /** For the heartbeat: what is applied, or null while agent.json alone applies. */
  report(): SiteConfigReport | null {
    return this.reported ? { revision: this.reported.revision, hash: this.reported.hash } : null;
  }

  /** The area channels to listen to: the delivered ones, else `fallback` (agent.json's). */
  areaChannels(fallback: readonly string[]): readonly string[] {
    return this.held?.areaChannels ?? fallback;
  }

  /**
   * The languages the site speaks, in the order it hears them: the delivered
   * ones, else Vietnamese alone (a server that does not send them, or none
   * delivered yet). The alert handler plays language versions by it.
   */
  languages(): readonly string[] {
    return this.held?.languages ?? DEFAULT_SITE_LANGUAGES;
  }

  /**
   * Apply a delivered configuration: at once in memory (a board must follow its
   * area even when its card cannot be written), then on disk; `kept` resolves
   * once it is written (or the write failed, which is logged).
   */
  accept(m: SiteConfigMessage): { outcome: SiteConfigOutcome; kept: Promise<void> } {
    if (m.siteId !== this.siteId) return { outcome: 'wrong_site', kept: Promise.resolve() };
    if (this.held && this.held.revision === m.revision && this.held.hash === m.hash) return { outcome: 'same', kept: Promise.resolve() };
    this.held = m;
    const file = this.file;
    if (file) {
      const write = this.writing.then(() => writeJsonAtomic(file, m, { mode: 0o600 }));
      this.writing = write
        .catch((e: unknown) => this.log.warn(`cannot keep the site configuration in ${file}: ${(e as Error).message}; it applies until the agent restarts`))
        .then(() => {
          if (this.held === m) this.reported = m;
        });
    } else this.reported = m;
    return { outcome: 'new', kept: this.writing };
  }

  flush(): Promise<void> {
    return this.writing;
  }
}
