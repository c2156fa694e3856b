/**
 * A relay's source, from the check before going on air to its end:
 *
 * - `probeRelay` tries the URL before the stream exists: the destination is
 *   checked (relay-fetch.ts), the stream fetched and piped into ffmpeg, and
 *   it succeeds only once ffmpeg has decoded audio from it, within a bound.
 *   A URL that cannot be reached, answers an error, or sends something that
 *   is not audio is refused with a reason instead of going on air and ending
 *   a moment later.
 * - `RelaySource` carries the probed source on air and, when the source is
 *   lost, tries it again with jittered backoff (common/backoff.ts) for
 *   `windowMs`. Meanwhile the stream's pacing sends silence (nothing is
 *   queued), or a fallback media item the operator chose plays, looped, as
 *   radio automation fills dead air; when the source is back its audio
 *   replaces the fallback at once. A window that ends without the source
 *   ends the stream as source_lost.
 *
 * What readers see of a failure says no more than "could not be reached",
 * an HTTP status or an errno code; network detail goes to the server log.
 */
import { Backoff } from '../../common/backoff.ts';
import type { RelayRefusalReason, RelayStatus } from '../../api/live.ts';
import { FfmpegPcmSource, RELAY_ENDED, RELAY_UNREACHABLE, startRelaySource, type RelayAnswer, type RelayEnd } from './ffmpeg-source.ts';
import type { PcmSource } from './live-stream.ts';
import type { RelayAllow } from './relay-destination.ts';
import { checkRelayUrl, RelayRefused, type RelayTarget } from './relay-fetch.ts';

/** Decoded audio a source must deliver to count as a radio stream: 100 ms of 48 kHz mono s16le. */
export const PROBE_AUDIO_BYTES = 9600;
/** How long the check before going on air (and each reconnect) may take to get that audio. */
export const DEFAULT_PROBE_MS = 8000;

/** Why a relay's URL is refused before going on air: the error code, the reason and its words. */
export class RelayProbeFailed extends Error {
  constructor(
    readonly code: 'LOANET_RELAY_REFUSED' | 'LOANET_RELAY_UNREACHABLE' | 'LOANET_RELAY_NOT_AUDIO',
    readonly reason: RelayRefusalReason,
    message: string,
    /** For the server log: may name addresses. */
    readonly logDetail: string,
    /** The console's technical detail: an errno code or an HTTP status line (never an address). */
    readonly detail?: string,
    /** How long the source had to answer or send audio (s), for the console's words of a timeout. */
    readonly withinS?: number,
  ) {
    super(message);
    this.name = 'RelayProbeFailed';
  }
}

export interface RelayProbeOptions {
  ffmpegPath: string;
  url: URL;
  allow: RelayAllow;
  probeMs?: number;
  /** Tests: the resolver (relay-fetch.ts). */
  resolve?: Parameters<typeof checkRelayUrl>[2];
  /** Abandon the try (the stream it was for has ended): its fetch and ffmpeg go at once. */
  signal?: AbortSignal;
}

/** A source that delivered audio: its child, and what it sent so far (kept until the stream takes it). */
export interface ProbedRelay {
  target: RelayTarget;
  /** Hand the running source over: `data` gets what was buffered, then every later chunk; `end` when it stops by itself. */
  adopt(handlers: { data(chunk: Buffer): void; end(e: RelayEnd): void }): PcmSource;
  /** Drop it (the stream was refused after all). */
  close(): void;
}

/**
 * Try the relay's URL: resolve and check the destination, fetch, decode.
 * Resolves once ffmpeg has decoded PROBE_AUDIO_BYTES of audio; rejects with
 * RelayProbeFailed saying why not.
 */
export async function probeRelay(o: RelayProbeOptions): Promise<ProbedRelay> {
  const probeMs = o.probeMs ?? DEFAULT_PROBE_MS;
  let target: RelayTarget;
  try {
    target = await checkRelayUrl(o.url, o.allow, o.resolve);
  } catch (e) {
    if (e instanceof RelayRefused) {
      throw new RelayProbeFailed('LOANET_RELAY_REFUSED', 'destination', `source.url: ${e.message}`, e.message);
    }
    throw e;
  }
  return new Promise<ProbedRelay>((resolve, reject) => {
    const buffered: Buffer[] = [];
    let bytes = 0;
    let answer: RelayAnswer | undefined;
    let settled = false;
    let onData: ((c: Buffer) => void) | undefined;
    let onEnd: ((e: RelayEnd) => void) | undefined;
    let endedEarly: RelayEnd | undefined;
    const fail = (err: RelayProbeFailed) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      source.close();
      reject(err);
    };
    const source = startRelaySource(o.ffmpegPath, target, o.allow, {
      answered: (a) => (answer = a),
      data: (c) => {
        if (onData) return onData(c);
        buffered.push(c);
        bytes += c.length;
        if (bytes >= PROBE_AUDIO_BYTES && !settled) {
          settled = true;
          clearTimeout(timer);
          // Until the stream takes it (after its record is stored), a source faster than real time would decode into
          // this buffer without a bound: it waits, and reads on once adopted (the stream then paces it).
          source.pause();
          resolve({
            target,
            adopt: (h) => {
              onEnd = h.end;
              for (const b of buffered.splice(0)) h.data(b);
              onData = h.data;
              source.resume();
              if (endedEarly) queueMicrotask(() => h.end(endedEarly!));
              return source;
            },
            close: () => source.close(),
          });
        }
      },
      end: (e) => {
        if (onEnd) return onEnd(e);
        if (!settled) return fail(probeFailure(e, answer));
        // Ended after the audio came but before the stream took it: told at adoption.
        endedEarly = e;
      },
    });
    o.signal?.addEventListener('abort', () => fail(new RelayProbeFailed('LOANET_RELAY_UNREACHABLE', 'no_answer', 'source.url: abandoned', 'abandoned')), {
      once: true,
    });
    const timer = setTimeout(() => {
      const s = Math.round(probeMs / 1000);
      if (answer) {
        fail(
          new RelayProbeFailed(
            'LOANET_RELAY_NOT_AUDIO',
            'no_audio_in_time',
            `source.url: the source answered but sent no decodable audio within ${s} s${answer.contentType ? ` (content-type ${answer.contentType})` : ''}`,
            `no audio within ${s} s`,
            undefined,
            s,
          ),
        );
      } else {
        fail(new RelayProbeFailed('LOANET_RELAY_UNREACHABLE', 'no_answer', `source.url: the source did not answer within ${s} s`, `no answer within ${s} s`, undefined, s));
      }
    }, probeMs);
  });
}

/** The refusal for a source that stopped before it delivered audio. */
function probeFailure(e: RelayEnd, answer: RelayAnswer | undefined): RelayProbeFailed {
  if (e.stage === 'refused') {
    // The redirect's target is the remote server's choice and the log's business: the answer says only that it was refused.
    return new RelayProbeFailed(
      'LOANET_RELAY_REFUSED',
      'redirect',
      'source.url: the source redirected to a destination a relay may not reach (only public addresses, or those LOANET_RELAY_ALLOW lists)',
      e.detail,
    );
  }
  if (e.stage === 'connect') {
    const http = e.short?.startsWith('HTTP ') ?? false;
    return new RelayProbeFailed(
      'LOANET_RELAY_UNREACHABLE',
      http ? 'http_status' : 'connection',
      `source.url: the source could not be reached (${e.short ?? 'connection failed'})`,
      e.detail,
      e.short,
    );
  }
  const type = answer?.contentType ? ` (content-type ${answer.contentType})` : '';
  return new RelayProbeFailed('LOANET_RELAY_NOT_AUDIO', 'not_audio', `source.url: the source answered but what it sent is not audio that can be decoded${type}`, e.detail);
}

export interface RelayFallback {
  mediaId: string;
  title: string;
  /** ffmpeg input arguments reading the item's file (looped by RelaySource). */
  input: readonly string[];
}

export interface RelaySourceDeps {
  ffmpegPath: string;
  url: URL;
  allow: RelayAllow;
  now(): number;
  /** How long a lost source is tried again (ms); 0: the stream ends when its source does. */
  windowMs: number;
  fallback?: RelayFallback;
  backoff?: Backoff;
  probeMs?: number;
  /** Where the audio goes (the stream's queue), and dropping what is queued (a fallback's, when the source is back). */
  push(chunk: Buffer): void;
  dropQueued(): void;
  /** The source is gone for good: the stream plays out what it has and ends as source_lost with this reason for readers. */
  lost(detail: string): void;
  /** Causes, for the server log (they may name addresses). */
  log(what: string, detail: string): void;
  /** The source was lost and is being tried again, or came back: for the audit log (nothing here names an address). */
  changed?(change: RelayChange): void;
}

/** A relay's source lost (and tried again until `giveUpAt`), or back after `attempts` tries. */
export type RelayChange =
  | { kind: 'lost'; at: number; reason: 'source_unreachable' | 'source_ended'; giveUpAt: number; fallback: string | null }
  | { kind: 'reconnected'; at: number; lostAt: number; attempts: number };

/** What readers are told when the source did not come back. */
export const relayGaveUp = (windowMs: number, attempts: number) => `the source did not come back within ${Math.round(windowMs / 1000)} s (${attempts} attempts)`;

/**
 * A relay on air: the probed source, and when it is lost, tries again until
 * it is back or the window ends. The stream paces it through pause/resume,
 * which go to whichever child is playing (the source, or the fallback).
 */
export class RelaySource implements PcmSource {
  private current: PcmSource | undefined;
  private fallbackChild: PcmSource | undefined;
  private paused = false;
  private closed = false;
  private lostAt: number | null = null;
  private attempts = 0;
  private reconnects = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private windowTimer: NodeJS.Timeout | undefined;
  /** The window ended: no try may bring the source back now. */
  private over = false;
  private readonly backoff: Backoff;
  /** Aborts the try in flight when the stream ends. */
  private readonly closing = new AbortController();

  constructor(
    private readonly deps: RelaySourceDeps,
    first: ProbedRelay,
  ) {
    // Seconds, not the agents' 30 s cap: a listener hears every second of dead air.
    this.backoff = deps.backoff ?? new Backoff({ baseMs: 1000, capMs: 10_000 });
    this.current = first.adopt({ data: (c) => this.deps.push(c), end: (e) => this.sourceEnded(e) });
  }

  relayStatus(): RelayStatus {
    return {
      state: this.lostAt === null ? 'connected' : 'reconnecting',
      attempts: this.attempts,
      since: this.lostAt,
      giveUpAt: this.lostAt === null ? null : this.lostAt + this.deps.windowMs,
      reconnectWindowMs: this.deps.windowMs,
      reconnects: this.reconnects,
      fallback: this.deps.fallback ? { mediaId: this.deps.fallback.mediaId, title: this.deps.fallback.title, playing: this.fallbackChild !== undefined } : null,
    };
  }

  pause(): void {
    this.paused = true;
    (this.fallbackChild ?? this.current)?.pause();
  }

  resume(): void {
    this.paused = false;
    (this.fallbackChild ?? this.current)?.resume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearTimers();
    this.closing.abort();
    this.current?.close();
    this.stopFallback();
  }

  private sourceEnded(e: RelayEnd): void {
    if (this.closed) return;
    this.current = undefined;
    this.deps.log('live relay source failed', e.detail);
    if (this.deps.windowMs <= 0) return this.deps.lost(e.kind === 'unreachable' ? RELAY_UNREACHABLE : RELAY_ENDED);
    this.lostAt = this.deps.now();
    this.attempts = 0;
    this.backoff.reset();
    this.startFallback();
    this.deps.changed?.({
      kind: 'lost',
      at: this.lostAt,
      reason: e.kind === 'unreachable' ? 'source_unreachable' : 'source_ended',
      giveUpAt: this.lostAt + this.deps.windowMs,
      fallback: this.deps.fallback?.title ?? null,
    });
    this.windowTimer = setTimeout(() => this.giveUp(), this.deps.windowMs);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    if (this.closed || this.over || this.lostAt === null) return;
    const delay = this.backoff.next();
    // A try that could not begin before the window ends is not made; giveUp() ends the stream then.
    if (this.deps.now() + delay >= this.lostAt + this.deps.windowMs) return;
    this.retryTimer = setTimeout(() => void this.tryAgain(), delay);
  }

  private async tryAgain(): Promise<void> {
    if (this.closed || this.over || this.lostAt === null) return;
    this.attempts++;
    let probed: ProbedRelay;
    try {
      // Checked again: the name may resolve elsewhere now, and the new address must be allowed too.
      probed = await probeRelay({
        ffmpegPath: this.deps.ffmpegPath,
        url: this.deps.url,
        allow: this.deps.allow,
        signal: this.closing.signal,
        ...(this.deps.probeMs !== undefined ? { probeMs: this.deps.probeMs } : {}),
      });
    } catch (err) {
      if (this.closed) return;
      this.deps.log('live relay reconnect failed', err instanceof RelayProbeFailed ? err.logDetail : (err as Error).message);
      return this.scheduleRetry();
    }
    if (this.closed || this.over || this.lostAt === null) return probed.close();
    this.clearTimers();
    const lostAt = this.lostAt;
    this.lostAt = null;
    this.reconnects++;
    this.deps.changed?.({ kind: 'reconnected', at: this.deps.now(), lostAt, attempts: this.attempts });
    this.stopFallback();
    // The fallback's queued seconds give way to the source at once.
    this.deps.dropQueued();
    this.current = probed.adopt({ data: (c) => this.deps.push(c), end: (e) => this.sourceEnded(e) });
    if (this.paused) this.current.pause();
  }

  private giveUp(): void {
    if (this.closed || this.over || this.lostAt === null) return;
    this.over = true;
    const attempts = this.attempts;
    this.clearTimers();
    this.stopFallback();
    this.deps.dropQueued();
    this.deps.lost(relayGaveUp(this.deps.windowMs, attempts));
  }

  private startFallback(): void {
    const f = this.deps.fallback;
    if (!f || this.fallbackChild) return;
    // Looped: an outage may outlast the item.
    const child = new FfmpegPcmSource(this.deps.ffmpegPath, ['-stream_loop', '-1', ...f.input], {
      data: (c) => this.deps.push(c),
      exit: (e) => {
        if (e.closedByUs) return;
        if (this.fallbackChild === child) this.fallbackChild = undefined;
        this.deps.log('live relay fallback failed', `ffmpeg exited (${e.code ?? e.signal})${e.stderrTail ? `: ${e.stderrTail}` : ''}`);
      },
    });
    this.fallbackChild = child;
    if (this.paused) child.pause();
  }

  private stopFallback(): void {
    this.fallbackChild?.close();
    this.fallbackChild = undefined;
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.windowTimer);
  }
}
