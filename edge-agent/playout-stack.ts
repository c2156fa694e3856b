/**
 * Assembles what a site plays through from the caller's PlayoutSetup: the
 * playout engine (the only writer of the audio sink), the event journal, the
 * playlist executor, the alert handler and the live-stream receiver, all on
 * the server clock as the clock exchange estimates it. Their logic lives in
 * edge-agent/playout/, alerts/ and live/; this module only wires them.
 */
import { join } from 'node:path';
import type { SiteEventMessage } from '../protocol/index.ts';
import type { DeviceGateway } from './devices/gateway.ts';
import type { AgentConfig } from './config.ts';
import type { AgentLogger } from './agent-log.ts';
import type { PlayoutSetup } from './agent-options.ts';
import type { ClockExchange } from './session/clock-exchange.ts';
import { PlayoutEngine } from './playout/engine.ts';
import { openOggOpusFile } from './playout/file-source.ts';
import { PlaylistExecutor } from './playout/playlist-executor.ts';
import { ReceiptJournal } from './playout/receipts.ts';
import { AlertHandler } from './alerts/handler.ts';
import { askAlertDelivery } from './alerts/server-word.ts';
import { SharedMediaNeeds } from './alerts/media-needs.ts';
import { LiveReceiver, type LiveReceiverOptions } from './live/receiver.ts';
import { createOpusDecoder } from './audio/opus.ts';

export const RECEIPT_JOURNAL_FILE = 'asrun.journal';
const DEFAULT_AMP_LEAD_MS = 3500;
/** Until the device says its hold (profile amplifier.holdMs): a following item within it does not cycle the relay. */
const DEFAULT_AMP_TAIL_MS = 5000;
/** Added to the device's warm-up: the amp_power round trip and the relay. */
export const AMP_LEAD_MARGIN_MS = 500;

export interface PlayoutStackDeps {
  config: AgentConfig;
  gateway: DeviceGateway;
  clock: ClockExchange;
  /** The agent's sync time base (the engine's local clock). */
  syncNow: () => number;
  /** The agent's clock for `at` fields. */
  now: () => number;
  publishEvent: (event: SiteEventMessage) => Promise<boolean>;
  acousticDelayM: number;
  /** The site's languages in the order it hears them (its delivered configuration): an alert's language versions play by it. */
  siteLanguages?: () => readonly string[];
  log: AgentLogger;
}

export interface PlayoutStack {
  engine: PlayoutEngine;
  journal: ReceiptJournal;
  executor: PlaylistExecutor;
  /** Emergency alerts from the area control channels: edge-agent/alerts/. */
  alerts: AlertHandler;
  live: LiveReceiver;
}

export const newLiveReceiver = (options: LiveReceiverOptions): LiveReceiver => new LiveReceiver(options);

/** The event journal of an agent that does not play: alert statuses and command results are journaled like receipts. */
export function eventJournalAlone(stateDir: string | undefined, now: () => number, log: AgentLogger): ReceiptJournal {
  return new ReceiptJournal({ ...(stateDir ? { file: join(stateDir, RECEIPT_JOURNAL_FILE) } : {}), now, log });
}

export function buildPlayoutStack(setup: PlayoutSetup, d: PlayoutStackDeps): PlayoutStack {
  const { config, gateway, clock } = d;
  const siteId = config.siteId;
  const offsetMs = (): number | undefined => clock.estimate()?.offsetMs;
  const serverNow = (): number => d.syncNow() + (offsetMs() ?? 0);
  const clockUncertaintyMs = (): number | null => clock.estimate()?.uncertaintyMs ?? null;
  const log = { info: (m: string) => d.log.debug?.(m), warn: (m: string) => d.log.warn(m), error: (m: string) => d.log.error(m) };
  const engine = new PlayoutEngine({
    sink: setup.sink,
    clock: { now: d.syncNow, offsetMs },
    amplifier: gateway,
    leadMs: setup.leadMs ?? DEFAULT_AMP_LEAD_MS,
    tailMs: setup.tailMs ?? DEFAULT_AMP_TAIL_MS,
    ...(setup.lateToleranceMs !== undefined ? { lateToleranceMs: setup.lateToleranceMs } : {}),
    log,
  });
  const stateDir = config.stateDir;
  const journal = new ReceiptJournal({ ...(stateDir ? { file: join(stateDir, RECEIPT_JOURNAL_FILE) } : {}), ...setup.journalResend, now: serverNow, log });
  // The playlist and the alerts share the cache: each declares its own needs, the cache gets the union.
  const cache = setup.cache;
  const needs = cache ? new SharedMediaNeeds(cache) : undefined;
  const executor = new PlaylistExecutor({
    siteId,
    engine,
    serverNow,
    clockUncertaintyMs,
    clock: {
      state: () => clock.state(),
      gate: () => clock.gate(),
      check: () => clock.check(),
      confirm: () => clock.confirm(),
    },
    ...(cache && needs ? { cache: needs.viewFor('playlist', cache) } : {}),
    journal,
    ...(stateDir ? { stateDir } : {}),
    openSource: (path, entry) => openOggOpusFile(path, entry.repeats ?? 1),
    prepareAheadMs: setup.prepareAheadMs ?? (() => engine.leadMs + 3000),
    log,
  });
  const httpUrl = config.server.httpUrl;
  const alerts = new AlertHandler({
    siteId,
    engine,
    serverNow,
    clockUncertaintyMs,
    ...(cache && needs ? { media: { need: (refs) => needs.set('alerts', refs), pathOf: (sha) => cache.pathOf(sha), failureOf: (sha) => needs.failureOf(sha) } } : {}),
    openMessage: (path) => openOggOpusFile(path, 1),
    ...(d.siteLanguages ? { siteLanguages: d.siteLanguages } : {}),
    publish: (event) => void d.publishEvent(event),
    // The device's microphone window is on the engine's local clock; the handler speaks server clock.
    ...(gateway.micLevel ? { micLevelDb: (from: number, to: number) => gateway.micLevel!(from - (offsetMs() ?? 0), to - (offsetMs() ?? 0)) } : {}),
    levelThresholdDb: config.soundCheckThresholdDb,
    ...(stateDir ? { stateDir } : {}),
    // With its alert memory lost, the agent asks the server before playing an alert again (decide.ts).
    ...(httpUrl ? { askServer: (alertId: string) => askAlertDelivery({ httpUrl, siteId, secret: config.credential.secret }, alertId) } : {}),
    log,
  });
  const live = (setup.createLiveReceiver ?? newLiveReceiver)({
    siteId,
    engine,
    serverNow,
    now: d.now,
    clockUncertaintyMs,
    publish: (event) => void d.publishEvent(event),
    createDecoder: createOpusDecoder,
    clockOffsetMs: () => offsetMs() ?? 0,
    acousticDelayM: d.acousticDelayM,
    log,
  });
  return { engine, journal, executor, alerts, live };
}
