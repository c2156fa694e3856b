/**
 * The language versions of one alert running at one site (`versions`): the
 * agent's decisions about them, pure, and the shell that feeds them to the
 * alert source's turns. Which versions play after the Vietnamese message in
 * each repeat — those of the site's languages (its delivered configuration),
 * in the site's order (versionsToPlay) — their files watched for in the
 * cache, opened as they come in and handed to the source for their next
 * turn, and what every alert_status says of them.
 *
 * A version not in the cache when its turn comes is skipped for that repeat
 * (alert-source.ts), never waited for: the village hears the message on time
 * and the version from its next turn. Within a revision versions only
 * accumulate, so a copy of the same revision with more of them adds them to
 * the repeats still to come. Once a version is due here and the message came
 * out, every status says `languagesPlayed` (in the order first heard) and
 * `languagesMissed` (its turn came, its file never in time).
 */
import { isMainLanguage, MAX_ALERT_VERSIONS, type AlertStatusEvent, type AlertVersion } from '../../protocol/index.ts';
import type { MediaRef } from '../media-cache/types.ts';
import type { AlertSource, MessageFrames } from './alert-source.ts';

/**
 * The language versions a site plays after the Vietnamese message, in the
 * order of its languages (site configuration `languages`): one per language
 * of the site that the alert has a version in; the site's Vietnamese is the
 * message itself, and a version in a language the site does not speak is
 * not played here.
 */
export function versionsToPlay(versions: readonly AlertVersion[] | undefined, siteLanguages: readonly string[]): AlertVersion[] {
  if (!versions || versions.length === 0) return [];
  const out: AlertVersion[] = [];
  for (const lang of new Set(siteLanguages)) {
    if (isMainLanguage(lang)) continue;
    const v = versions.find((x) => x.language === lang);
    if (v && out.length < MAX_ALERT_VERSIONS) out.push(v);
  }
  return out;
}

/**
 * The versions of one revision as they stand after another copy of it:
 * within a revision versions only accumulate (a version is added while the
 * alert plays; a copy without it, meant for agents that do not take
 * versions, takes nothing away). A language already held keeps its media.
 */
export function mergeVersions(held: readonly AlertVersion[] | undefined, incoming: readonly AlertVersion[] | undefined): AlertVersion[] {
  const out = [...(held ?? [])];
  for (const v of incoming ?? []) if (!out.some((x) => x.language === v.language) && out.length < MAX_ALERT_VERSIONS) out.push(v);
  return out;
}

/** Whether a copy brings a version in a language not held yet. */
export function bringsVersions(held: readonly AlertVersion[] | undefined, incoming: readonly AlertVersion[] | undefined): boolean {
  return (incoming ?? []).some((v) => !(held ?? []).some((x) => x.language === v.language));
}

/** The silence before each version in a repeat (alert-source.ts: 50 frames of 20 ms). */
const GAP_MS = 1000;

/** How long the versions make one repeat of the message longer: each version and the gap before it. */
export function versionsMsPerRepeat(toPlay: readonly AlertVersion[]): number {
  return toPlay.reduce((n, v) => n + v.media.durationMs + GAP_MS, 0);
}

/** Where the versions' files stand here. */
export interface VersionFiles {
  /** The source holds this language's frames already. */
  attached(language: string): boolean;
  /** Being opened now. */
  opening: ReadonlySet<string>;
  /** Their cached file could not be read: not tried again (skipped at every turn). */
  unreadable: ReadonlySet<string>;
  /** The verified file in the cache, or null while it is not (yet) there. */
  pathOf(sha256: string): string | null;
}

/** The versions to open now, in the site's order: due here, in the cache, and neither held, being opened, nor found unreadable. */
export function versionsToOpen(toPlay: readonly AlertVersion[], files: VersionFiles): { language: string; path: string }[] {
  const out: { language: string; path: string }[] = [];
  for (const v of toPlay) {
    const language = v.language;
    if (files.attached(language) || files.opening.has(language) || files.unreadable.has(language)) continue;
    const path = files.pathOf(v.media.sha256);
    if (path) out.push({ language, path });
  }
  return out;
}

/**
 * What a status says of the versions. `languagesPlayed` once some version is
 * due here and the message came out (an empty list says none came out yet);
 * `languagesMissed` whenever a version's turn came without its file and it
 * has not come out since.
 */
export function languagesStatus(
  due: number,
  messageBegun: boolean,
  played: readonly string[],
  skipped: Iterable<string>,
): Pick<AlertStatusEvent, 'languagesPlayed' | 'languagesMissed'> {
  const missed = [...skipped].filter((l) => !played.includes(l));
  return {
    ...(due > 0 && messageBegun ? { languagesPlayed: [...played] } : {}),
    ...(missed.length > 0 ? { languagesMissed: missed } : {}),
  };
}

export interface VersionTurnOptions {
  alertId: string;
  source: Pick<AlertSource, 'setVersionOrder' | 'hasVersion' | 'attachVersion' | 'turnsAhead'>;
  /** The site's languages in the order it hears them; asked each time a copy brings versions. */
  siteLanguages: () => readonly string[];
  pathOf: (sha256: string) => string | null;
  openMessage: (path: string) => Promise<MessageFrames>;
  /** How often to look whether a version's file has arrived. */
  pollMs: number;
  /** Whether this alert still runs here: the watch ends once it does not. */
  running: () => boolean;
  warn: (message: string) => void;
}

/** The versions of one running alert at this site: held, due, heard, missed, and the watch for their files. */
export class VersionTurn {
  /** Every version of this revision the copies so far brought. */
  private held: AlertVersion[] = [];
  /** Those this site plays, in its order. */
  private due: AlertVersion[] = [];
  /** Languages whose version came out here, in the order first heard. */
  private readonly played: string[] = [];
  /** Languages whose turn came without their file. */
  private readonly skipped = new Set<string>();
  private readonly opening = new Set<string>();
  private readonly unreadable = new Set<string>();
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: VersionTurnOptions) {}

  get versions(): readonly AlertVersion[] {
    return this.held;
  }

  get toPlay(): readonly AlertVersion[] {
    return this.due;
  }

  /** Whether a copy brings a version in a language not held yet. */
  brings(incoming: readonly AlertVersion[] | undefined): boolean {
    return bringsVersions(this.held, incoming);
  }

  /** A copy's versions join those held; the source lays the turns still to come by what this site plays, and their files are watched for. */
  add(incoming: readonly AlertVersion[] | undefined): void {
    this.held = mergeVersions(this.held, incoming);
    this.due = versionsToPlay(this.held, this.o.siteLanguages());
    this.o.source.setVersionOrder(this.due.map((v) => v.language));
    if (this.due.length === 0 || this.poll || this.stopped) return;
    this.poll = setInterval(() => this.attachArrived(), this.o.pollMs);
    this.poll.unref();
  }

  /** A version's turn began: true the first time this language comes out here (a status says so at once). */
  heard(language: string): boolean {
    if (this.played.includes(language)) return false;
    this.played.push(language);
    this.skipped.delete(language);
    return true;
  }

  /** A version's turn came and its frames were not there. */
  missed(language: string): void {
    this.skipped.add(language);
  }

  /** The files of the versions this site plays (the cache fetches them after every running alert's message). */
  media(): MediaRef[] {
    return this.due.map((v) => ({ mediaId: v.media.mediaId, sha256: v.media.sha256, bytes: v.media.bytes }));
  }

  status(messageBegun: boolean): Pick<AlertStatusEvent, 'languagesPlayed' | 'languagesMissed'> {
    return languagesStatus(this.due.length, messageBegun, this.played, this.skipped);
  }

  /** Versions whose file came into the cache: opened and handed to the source for their next turn (what the watch runs). */
  attachArrived(): void {
    if (!this.o.running() || !this.o.source.turnsAhead) {
      clearInterval(this.poll);
      this.poll = undefined;
      return;
    }
    const files: VersionFiles = { attached: (l) => this.o.source.hasVersion(l), opening: this.opening, unreadable: this.unreadable, pathOf: this.o.pathOf };
    for (const { language, path } of versionsToOpen(this.due, files)) {
      this.opening.add(language);
      this.o.openMessage(path).then(
        (frames) => {
          this.opening.delete(language);
          this.o.source.attachVersion(language, frames);
        },
        (e: unknown) => {
          this.opening.delete(language);
          this.unreadable.add(language);
          this.o.warn(`alert ${this.o.alertId}: cached audio of the ${language} version unreadable (${(e as Error).message}); skipped here`);
        },
      );
    }
  }

  /** The alert ended here (or the agent stops): the watch ends for good. */
  stop(): void {
    this.stopped = true;
    clearInterval(this.poll);
    this.poll = undefined;
  }
}
