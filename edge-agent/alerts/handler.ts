/**
 * An agent's alert handling, the shell around decide.ts and
 * alert-source.ts: alert control messages from the area channels in, an
 * emergency programme on the playout engine and alert_status events out.
 *
 * On alert_start (decided by decide.ts): report `received`, and hand the
 * engine the alert AT ONCE — the attention signal is synthesised here, so the
 * first sound never waits for the download — while the alert's audio is
 * fetched into the media cache; when it is in, the message plays `repeats`
 * times at the alert's volume. A real alert is an `emergency` programme (it
 * pre-empts bulletins and live streams within one frame; what it interrupted
 * resumes or ends by its own policy, in the engine); a test is `priority`, so
 * it never pre-empts a real alert or an emergency broadcast.
 * An alert_start may come before its message exists (no `media`,
 * `messageState` preparing): the signal sounds and the programme waits in
 * silence; the same revision then comes again with `media` (fetched and
 * played as above) or with `messageState` failed (the signal was the alert).
 * On alert_cancel the programme stops on the next frame not yet heard.
 *
 * Statuses: received → playing (repeat 0 = signal, then each repeat) →
 * completed, or failed (no_media, amp_fault, device_off, expired, preempted,
 * error) or stopped (cancelled, replaced by a newer revision). Every status
 * after the first sound says what this site played: `messageAt` once the
 * message itself came out (absent: the signal only), `messageRepeats` played
 * to their end. The microphone's level is measured over the message once it
 * began, so a siren followed by silence is never reported as heard.
 *
 * When the message audio cannot be had (the fetch refused, or failing
 * MESSAGE_FETCH_ATTEMPTS times, or not in by the deadline; the message still
 * not made when the wait runs out; the cached file unreadable) the programme
 * ends right after the signal, which is not cut, so the amplifier is released
 * instead of held on in silence, and the site reports failed no_media with
 * what the fetch got.
 *
 * Language versions (`versions`) play after the message in each repeat,
 * those of the site's languages (`siteLanguages`) in its order; a version not
 * in the cache when its turn comes is skipped for that repeat, never waited
 * for, and every status says which were heard and which missed
 * (version-turn.ts). Their files are asked of the cache after every running
 * alert's message, so the message comes first.
 */
import { decodeAlertControl, type AlertFailureReason, type AlertStart, type AlertStatusEvent } from '../../protocol/index.ts';
import type { MediaRef } from '../media-cache/types.ts';
import type { EngineEvent, PlayoutEngineApi, PlayoutFailure } from '../playout/engine.ts';
import { attentionFrames } from './attention.ts';
import { AlertSource, type MessageFrames } from './alert-source.ts';
import { askServerFirst, decideCancel, decideStart, handledPerServer, messageFetchDecision, type FetchFailure, type ServerDelivery } from './decide.ts';
import { AlertMemory } from './memory.ts';
import { VersionTurn, versionsMsPerRepeat } from './version-turn.ts';

export interface AlertMedia {
  /** Declare the media the alerts need now (the cache fetches them in the background). */
  need(refs: readonly MediaRef[]): void;
  /** The verified file, or null while it is not (yet) in the cache. */
  pathOf(sha256: string): string | null;
  /** Why the file is not in yet: failed attempts and the last error (HTTP status, cut, stall); null while none failed. */
  failureOf?(sha256: string): FetchFailure | null;
}

export interface AlertHandlerOptions {
  siteId: string;
  engine: Pick<PlayoutEngineApi, 'add' | 'cancel' | 'on'>;
  serverNow: () => number;
  clockUncertaintyMs?: () => number | null;
  /** Absent: no cache (no HTTP URL): the signal plays, then the alert fails no_media at once. */
  media?: AlertMedia;
  openMessage: (path: string) => Promise<MessageFrames>;
  /** The site's languages in the order it hears them (its delivered configuration); absent: Vietnamese alone, no version plays. */
  siteLanguages?: () => readonly string[];
  publish: (event: AlertStatusEvent) => void;
  /**
   * What the monitoring microphone heard over [from, to) (server clock, the
   * agent's estimate): dBFS, or null when the site has no microphone.
   */
  micLevelDb?: (fromServerMs: number, toServerMs: number) => Promise<number | null>;
  /** The site's sound-check threshold (dBFS), sent beside a level so the server can tell "played but not heard". */
  levelThresholdDb?: number;
  /** Give up on the microphone after this long and report without a level (default 3000 ms). */
  micTimeoutMs?: number;
  stateDir?: string;
  log: { info?(m: string): void; warn(m: string): void; error(m: string): void };
  /** Give up on an audio download still going this long after the alert arrived (default 120 s, never past validUntil); a failing one ends sooner (decide.ts). */
  mediaTimeoutMs?: number;
  /** How often to look whether the audio has arrived (default 100 ms). */
  pollMs?: number;
  /** Give up waiting for a message still being made this long after the alert arrived (default 10 min, never past validUntil). */
  messageWaitMs?: number;
  /**
   * What the server stored for this site about an alert (null: it does not know it). Asked before
   * playing an alert that may have played here already, when the memory was lost (decide.ts,
   * askServerFirst). Absent: never asked, the alert plays.
   */
  askServer?: (alertId: string) => Promise<ServerDelivery | null>;
  /** Play anyway when the server has not answered by then (default 3000 ms): an alert heard twice beats one not heard. */
  askTimeoutMs?: number;
}

export interface AlertHandlerStats {
  controlMessages: number;
  invalid: number;
  started: number;
  ignored: number;
  completed: number;
  failed: number;
  stopped: number;
}

interface Running {
  start: AlertStart;
  programmeId: string;
  source: AlertSource;
  firstSoundAt: number | null;
  /** When the message itself (repeat 1) came out; null: only the signal so far. */
  messageAt: number | null;
  /** The message could not be had: the programme ends after the signal and reports failed no_media with this. */
  noMedia: string | null;
  /** Failed fetch attempts of the message's file already counted when this alert began to wait for it. */
  fetchBaseline: number;
  /** Why we cancelled it ourselves: the status it ends with. */
  endAs: { status: 'failed' | 'stopped'; reason?: AlertFailureReason; detail: string } | null;
  poll: NodeJS.Timeout | undefined;
  deadline: number;
  lastRepeat: number;
  /** Started without `media`: the server is still making the message. */
  awaiting: boolean;
  /** The message could not be made: the attention signal alone is this alert. */
  signalOnly: boolean;
  /** The language versions this revision brought, and which this site plays, heard and missed. */
  turn: VersionTurn;
}

const FAILURE: Record<PlayoutFailure, AlertFailureReason> = {
  amp_fault: 'amp_fault',
  device_off: 'device_off',
  expired: 'expired',
  preempted: 'preempted',
  cancelled: 'error',
  error: 'error',
};

export class AlertHandler {
  private readonly memory: AlertMemory;
  private readonly running = new Map<string, Running>();
  private readonly byProgramme = new Map<string, string>();
  private unsubscribe: (() => void) | undefined;
  /** Server clock when this run started; and the alert revisions being asked about (askServer). */
  private runStartedAt = 0;
  private readonly asking = new Set<string>();
  readonly stats: AlertHandlerStats = { controlMessages: 0, invalid: 0, started: 0, ignored: 0, completed: 0, failed: 0, stopped: 0 };

  constructor(private readonly o: AlertHandlerOptions) {
    this.memory = new AlertMemory(o.stateDir, o.log);
  }

  async start(): Promise<void> {
    this.runStartedAt = this.o.serverNow();
    await this.memory.load(this.runStartedAt);
    this.unsubscribe = this.o.engine.on((e) => this.onEngine(e));
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    for (const r of this.running.values()) {
      clearInterval(r.poll);
      r.turn.stop();
    }
    await this.memory.flushed();
  }

  /** A message on one of the site's area control channels. Live-stream messages there are not ours. */
  onControl(payload: Uint8Array): void {
    if (payload.length === 0) return; // a cleared retained slot
    const d = decodeAlertControl.decode(payload);
    if (!d.ok) {
      if (!/"type"\s*:\s*"alert_/.test(Buffer.from(payload).toString('utf8', 0, 400))) return;
      this.stats.invalid++;
      this.o.log.warn(`dropped an invalid alert control message: ${d.error.reason}`);
      return;
    }
    this.stats.controlMessages++;
    const m = d.value;
    if (m.type === 'alert_start') this.onStart(m);
    else this.onCancel(m.alertId, m.reason);
  }

  private onStart(m: AlertStart, asked = false): void {
    const now = this.o.serverNow();
    const cur = this.running.get(m.alertId);
    const decision = decideStart(this.memory.view, m, this.o.siteId, now, cur !== undefined, cur?.awaiting ?? false, cur?.turn.brings(m.versions) ?? false);
    if (decision.action === 'ignore') {
      this.stats.ignored++;
      return;
    }
    if (decision.action === 'play' && !cur && !asked && this.o.askServer && askServerFirst(this.memory.complete, this.memory.view, m, this.runStartedAt)) {
      const key = `${m.alertId}:${m.revision}`;
      if (this.asking.has(key)) {
        this.stats.ignored++;
        return;
      }
      this.asking.add(key);
      void this.askThenStart(m, key, this.o.askServer);
      return;
    }
    if (decision.action === 'expired') {
      this.memory.set(m.alertId, m.revision, 'expired', now);
      this.report(m, 'failed', { reason: 'expired', detail: 'received after validUntil' });
      this.stats.failed++;
      return;
    }
    if (decision.action === 'message' && cur) {
      this.messageCame(cur, m, now);
      return;
    }
    if (decision.action === 'versions' && cur) {
      this.versionsCame(cur, m);
      return;
    }
    if (cur) this.end(cur, { status: 'stopped', detail: `replaced by revision ${m.revision}` });
    this.report(m, 'received');
    this.play(m, now);
  }

  /** The memory may lack this alert: the server says whether it already ended here; without an answer it plays. */
  private async askThenStart(m: AlertStart, key: string, ask: NonNullable<AlertHandlerOptions['askServer']>): Promise<void> {
    let word: ServerDelivery | null = null;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no answer in time')), this.o.askTimeoutMs ?? 3000);
        timer.unref();
      });
      word = await Promise.race([ask(m.alertId), timeout]);
    } catch (e) {
      this.o.log.warn(`alert ${m.alertId}: could not ask the server whether it already played here (${(e as Error).message}); playing it`);
    } finally {
      clearTimeout(timer);
      this.asking.delete(key);
    }
    const ended = word ? handledPerServer(word, m) : null;
    if (ended) {
      this.o.log.warn(`alert ${m.alertId} revision ${m.revision} already ${ended} here (the server's record; this agent's alert memory was lost): not played again`);
      this.memory.set(m.alertId, m.revision, ended, this.o.serverNow());
      this.stats.ignored++;
      return;
    }
    this.onStart(m, true);
  }

  private onCancel(alertId: string, reason: 'cancelled' | 'expired' | 'superseded'): void {
    const cur = this.running.get(alertId);
    const d = decideCancel(this.memory.view, { v: 1, type: 'alert_cancel', alertId, reason, at: 0 }, cur !== undefined);
    if (d.action === 'stop' && cur) this.end(cur, { status: 'stopped', detail: `alert ${reason}` });
    else if (d.action === 'forget') this.memory.set(alertId, 1000, 'stopped', this.o.serverNow());
  }

  private play(m: AlertStart, now: number): void {
    const programmeId = `alert:${m.alertId}:${m.revision}`;
    const source = new AlertSource({
      signal: attentionFrames(m.attention),
      repeats: m.repeats,
      // Called only once the engine plays it, long after `r` exists.
      onSound: (repeat, at) => this.onSound(r, repeat, at),
      onVersion: (language, _repeat, at) => this.onVersion(r, language, at),
      onVersionSkipped: (language) => r.turn.missed(language),
    });
    const r: Running = {
      start: m,
      programmeId,
      source,
      firstSoundAt: null,
      messageAt: null,
      noMedia: null,
      fetchBaseline: 0,
      endAs: null,
      poll: undefined,
      deadline: Math.min(m.validUntil, now + (m.media ? (this.o.mediaTimeoutMs ?? 120_000) : (this.o.messageWaitMs ?? 600_000))),
      lastRepeat: -1,
      awaiting: false,
      signalOnly: false,
      turn: new VersionTurn({
        alertId: m.alertId,
        source,
        siteLanguages: () => this.o.siteLanguages?.() ?? [],
        pathOf: (sha256) => this.o.media?.pathOf(sha256) ?? null,
        openMessage: (path) => this.o.openMessage(path),
        pollMs: this.o.pollMs ?? 100,
        running: () => this.running.get(m.alertId) === r,
        warn: (message) => this.o.log.warn(message),
      }),
    };
    r.turn.add(m.versions);
    this.running.set(m.alertId, r);
    this.byProgramme.set(programmeId, m.alertId);
    this.memory.set(m.alertId, m.revision, 'playing', now);
    const added = this.o.engine.add({
      id: programmeId,
      kind: 'alert',
      priority: m.test ? 'priority' : (m.priority ?? 'emergency'),
      startAt: now,
      whenPreempted: 'resume',
      ...(m.volume !== undefined ? { volume: m.volume } : {}),
      ...(m.media ? { durationMs: (m.media.durationMs + versionsMsPerRepeat(r.turn.toPlay)) * m.repeats + 4000 } : {}),
      notAfter: m.validUntil,
      source: r.source,
    });
    if (!added.ok) {
      this.forget(r);
      this.memory.set(m.alertId, m.revision, 'failed', now);
      this.report(m, 'failed', { reason: added.reason === 'expired' ? 'expired' : 'error', detail: added.detail });
      this.stats.failed++;
      return;
    }
    this.stats.started++;
    if (m.media) this.fetch(r);
    else if (m.messageState === 'failed') this.noMessage(r);
    else this.awaitMessage(r);
  }

  /** The signal sounds; the message is still being made on the server: wait for the copy that brings it. */
  private awaitMessage(r: Running): void {
    r.awaiting = true;
    const check = () => {
      if (this.running.get(r.start.alertId) !== r || !r.awaiting) return clearInterval(r.poll);
      if (this.o.serverNow() >= r.deadline) {
        this.giveUpMessage(r, `the message of alert ${r.start.alertId} was still being made on the server when the wait ran out`);
      }
    };
    r.poll = setInterval(check, Math.max(this.o.pollMs ?? 100, 1000));
    r.poll.unref();
  }

  /** The same revision again, now with its message (or word that there is none): the running programme continues with it. */
  private messageCame(r: Running, m: AlertStart, now: number): void {
    clearInterval(r.poll);
    r.awaiting = false;
    r.start = m;
    r.turn.add(m.versions);
    if (m.media) {
      r.deadline = Math.min(m.validUntil, now + (this.o.mediaTimeoutMs ?? 120_000));
      this.fetch(r);
    } else {
      this.noMessage(r);
    }
  }

  /** The same revision again with versions it lacked: they play from their next turn (fetched after the messages). */
  private versionsCame(r: Running, m: AlertStart): void {
    r.turn.add(m.versions);
    this.needMedia();
    const { versions, toPlay } = r.turn;
    this.o.log.info?.(
      `alert ${m.alertId}: versions now ${versions.map((v) => v.language).join(', ')}; this site plays ${toPlay.map((v) => v.language).join(', ') || 'none of them'}`,
    );
  }

  /** No message will come: the signal was the alert; with no signal either there is nothing to play. */
  private noMessage(r: Running): void {
    if (r.start.attention === null) {
      this.end(r, { status: 'failed', reason: 'no_media', detail: 'the server could not make the message audio and the alert has no attention signal' });
      return;
    }
    r.signalOnly = true;
    r.source.noMessage();
  }

  /** Ask the cache for the audio and attach it to the source as soon as it is there; give up on it when it cannot be had. */
  private fetch(r: Running): void {
    const sha = r.start.media?.sha256;
    r.fetchBaseline = (sha && this.o.media?.failureOf?.(sha)?.attempts) || 0;
    this.needMedia();
    const tryAttach = () => {
      if (!this.running.has(r.start.alertId) || this.running.get(r.start.alertId) !== r) return clearInterval(r.poll);
      const media = r.start.media;
      if (!media) return clearInterval(r.poll);
      const path = this.o.media?.pathOf(media.sha256) ?? null;
      if (path) {
        clearInterval(r.poll);
        r.poll = undefined;
        this.o.openMessage(path).then(
          (frames) => r.source.attach(frames),
          (e: unknown) => this.giveUpMessage(r, `cached audio unreadable: ${(e as Error).message}`),
        );
        return;
      }
      if (!this.o.media) return this.giveUpMessage(r, 'no media cache configured');
      const d = messageFetchDecision(this.o.media.failureOf?.(media.sha256) ?? null, r.fetchBaseline, this.o.serverNow(), r.deadline, media.mediaId);
      if (d.action === 'give_up') this.giveUpMessage(r, d.detail);
    };
    r.poll = setInterval(tryAttach, this.o.pollMs ?? 100);
    r.poll.unref();
    tryAttach();
  }

  /**
   * No message for this alert: the programme ends after its signal (not cut
   * short) or at once when the signal is over, releasing the amplifier, and
   * the site reports failed no_media with `detail`.
   */
  private giveUpMessage(r: Running, detail: string): void {
    clearInterval(r.poll);
    r.poll = undefined;
    if (this.running.get(r.start.alertId) !== r || !r.source.waitingForMessage || r.noMedia !== null) return;
    r.awaiting = false;
    if (r.start.attention === null && r.firstSoundAt === null) {
      // No signal to let finish: nothing sounds without the message.
      this.end(r, { status: 'failed', reason: 'no_media', detail });
      return;
    }
    r.noMedia = detail;
    r.source.noMessage();
    this.o.log.warn(`alert ${r.start.alertId}: ${detail}; only the attention signal played here`);
  }

  /** Every running alert's message first, then the versions each plays here: the cache fetches in this order. */
  private needMedia(): void {
    const running = [...this.running.values()];
    this.o.media?.need([
      ...running.flatMap((x) => (x.start.media ? [{ mediaId: x.start.media.mediaId, sha256: x.start.media.sha256, bytes: x.start.media.bytes }] : [])),
      ...running.flatMap((x) => (x.start.media ? x.turn.media() : [])),
    ]);
  }

  /** A version came out here for the first time: said at once, so an official sees the village heard it in its language. */
  private onVersion(r: Running, language: string, at: number): void {
    if (!r.turn.heard(language)) return;
    if (this.running.get(r.start.alertId) !== r) return;
    this.report(r.start, 'playing', { repeat: Math.max(0, r.lastRepeat), ...(r.firstSoundAt !== null ? { firstSoundAt: r.firstSoundAt } : {}), ...this.played(r, false) }, at);
  }

  private onSound(r: Running, repeat: number, at: number): void {
    r.firstSoundAt ??= at;
    if (repeat >= 1) r.messageAt ??= at;
    r.lastRepeat = repeat;
    this.report(r.start, 'playing', { repeat, firstSoundAt: r.firstSoundAt, ...this.played(r, false) });
    if (repeat === 2) {
      // Mid-alert, over the first repeat of the message: a long alert shows its level before it ends.
      const first = r.firstSoundAt;
      const from = r.messageAt ?? first;
      void this.measure(from, at).then((level) => {
        if (level && this.running.get(r.start.alertId) === r) this.report(r.start, 'playing', { repeat: r.lastRepeat, firstSoundAt: first, ...this.played(r, false), ...level });
      });
    }
  }

  /**
   * What this site has played of the message: when it began (absent: the
   * signal only) and the repeats played to their end — every one when the
   * programme completed, else those before the one it is in (a repeat is
   * counted once the next has begun or the programme ended whole).
   */
  private played(r: Running, completed: boolean): Pick<AlertStatusEvent, 'messageAt' | 'messageRepeats' | 'languagesPlayed' | 'languagesMissed'> {
    const begun = Math.max(0, r.lastRepeat);
    return {
      ...(r.messageAt !== null ? { messageAt: Math.max(0, Math.round(r.messageAt)) } : {}),
      messageRepeats: r.messageAt === null ? 0 : completed ? begun : Math.max(0, begun - 1),
      ...r.turn.status(r.messageAt !== null),
    };
  }

  /**
   * The microphone over [from, to): the fields to report, or null when not
   * measured (no driver support, device unreachable, too slow). The
   * microphone proves the speakers made sound, not only that frames were sent.
   */
  private async measure(from: number, to: number): Promise<Pick<AlertStatusEvent, 'levelDb' | 'thresholdDb'> | null> {
    const mic = this.o.micLevelDb;
    if (!mic) return null;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.o.micTimeoutMs ?? 3000);
        timer.unref();
      });
      const levelDb = await Promise.race([mic(from, to), timeout]);
      if (levelDb === undefined) return null;
      if (levelDb === null) return { levelDb: null };
      return { levelDb, ...(this.o.levelThresholdDb !== undefined ? { thresholdDb: this.o.levelThresholdDb } : {}) };
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stop a running alert ourselves (cancel, newer revision, no media); the engine's event then ends it. */
  private end(r: Running, as: NonNullable<Running['endAs']>): void {
    if (r.endAs) return;
    r.endAs = as;
    clearInterval(r.poll);
    if (!this.o.engine.cancel(r.programmeId, 'cancelled', as.detail)) this.finish(r, 'cancelled', as.detail);
  }

  private onEngine(e: EngineEvent): void {
    if (e.type !== 'ended' && e.type !== 'failed') return;
    const alertId = this.byProgramme.get(e.id);
    const r = alertId ? this.running.get(alertId) : undefined;
    if (!r || r.programmeId !== e.id) return;
    if (e.type === 'ended') this.finish(r, null, '');
    else this.finish(r, e.reason, e.detail);
  }

  private finish(r: Running, failure: PlayoutFailure | null, detail: string): void {
    this.forget(r);
    const now = this.o.serverNow();
    const m = r.start;
    // The end of an older revision must not overwrite what is remembered of a newer one.
    const remember = (outcome: 'completed' | 'failed' | 'stopped') => {
      const known = this.memory.view.get(m.alertId);
      if (!known || known.revision <= m.revision) this.memory.set(m.alertId, m.revision, outcome, now);
    };
    if (failure === null && !r.endAs && r.noMedia !== null) {
      // The programme ended after the signal because the message could not be had.
      remember('failed');
      this.reportEnd(r, 'failed', { reason: 'no_media', detail: r.noMedia.slice(0, 300), ...(r.lastRepeat >= 0 ? { repeat: r.lastRepeat } : {}) }, now);
      this.stats.failed++;
      return;
    }
    if (failure === null && !r.endAs) {
      remember('completed');
      this.reportEnd(r, 'completed', r.signalOnly ? { repeat: 0, detail: 'attention signal only: the server could not make the message audio' } : { repeat: m.repeats }, now);
      this.stats.completed++;
      return;
    }
    const as = r.endAs ?? { status: 'failed' as const, reason: FAILURE[failure ?? 'error'], detail };
    remember(as.status);
    this.reportEnd(
      r,
      as.status,
      {
        ...(as.reason ? { reason: as.reason } : {}),
        detail: as.detail.slice(0, 300),
        ...(r.lastRepeat >= 0 ? { repeat: r.lastRepeat } : {}),
      },
      now,
    );
    if (as.status === 'stopped') this.stats.stopped++;
    else this.stats.failed++;
  }

  /** The final report; after sound it waits for what the microphone heard since the message began (the first sound, when only the signal played). */
  private reportEnd(r: Running, status: 'completed' | 'failed' | 'stopped', more: Partial<Pick<AlertStatusEvent, 'repeat' | 'reason' | 'detail'>>, now: number): void {
    const first = r.firstSoundAt;
    const played = first !== null ? { firstSoundAt: first, ...this.played(r, status === 'completed') } : {};
    if (first === null || !this.o.micLevelDb) return this.report(r.start, status, { ...more, ...played });
    // Reported with the time it ended, not the time the microphone answered.
    void this.measure(r.messageAt ?? first, now).then((level) => this.report(r.start, status, { ...more, ...played, ...(level ?? {}) }, now));
  }

  private forget(r: Running): void {
    clearInterval(r.poll);
    r.turn.stop();
    if (this.running.get(r.start.alertId) === r) this.running.delete(r.start.alertId);
    this.byProgramme.delete(r.programmeId);
    this.needMedia();
  }

  private report(
    m: AlertStart,
    status: AlertStatusEvent['status'],
    more: Partial<
      Pick<AlertStatusEvent, 'repeat' | 'firstSoundAt' | 'messageAt' | 'messageRepeats' | 'languagesPlayed' | 'languagesMissed' | 'levelDb' | 'thresholdDb' | 'reason' | 'detail'>
    > = {},
    at = this.o.serverNow(),
  ): void {
    const u = this.o.clockUncertaintyMs?.();
    this.o.publish({
      v: 1,
      siteId: this.o.siteId,
      at: Math.max(0, Math.round(at)),
      type: 'alert_status',
      alertId: m.alertId,
      revision: m.revision,
      status,
      ...more,
      ...(more.firstSoundAt !== undefined ? { firstSoundAt: Math.max(0, Math.round(more.firstSoundAt)) } : {}),
      ...(u !== null && u !== undefined ? { clockUncertaintyMs: u } : {}),
    });
  }
}
