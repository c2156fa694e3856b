/**
 * What a caller gives the edge agent and what it reads back: the options
 * (config, device gateway, playout parts, injected clock and link), the
 * playout setup, and the agent's counters.
 */
import type { Duplex } from 'node:stream';
import type { DeviceGateway } from './devices/gateway.ts';
import type { AudioSink } from './audio/types.ts';
import type { MediaCache } from './media-cache/types.ts';
import type { LiveReceiver, LiveReceiverOptions } from './live/receiver.ts';
import type { AgentConfig } from './config.ts';
import type { AgentLogger } from './agent-log.ts';
import type { ReceiptJournalOptions } from './playout/receipts.ts';
import type { TrustedKey } from '../common/release.ts';
import type { Backoff } from '../common/backoff.ts';
import type { HttpGet } from './http-get.ts';
import type { SlotName } from './update/boot-select.ts';
import type { UpdatePort } from './update/updater.ts';

export interface Clock {
  now(): number;
}

/** The default sync time base: the epoch at process start plus a monotonic clock (never steps). */
export const monotonicEpochMs = (): number => performance.timeOrigin + performance.now();

/** Runs after the site has said "offline, reboot"; when it resolves, the agent reconnects. */
export type RebootHook = (gateway: DeviceGateway) => Promise<void>;

/**
 * What the agent plays through (issue 3): without it the agent neither plays
 * nor subscribes to its playlist. The caller builds the parts (main.ts from
 * the config, the fleet runner per simulated site); the logic is in
 * edge-agent/playout/ (engine, playlist executor, receipt journal).
 */
export interface PlayoutSetup {
  sink: AudioSink;
  /** Media for playlist entries; absent: every entry is skipped 'no_media'. */
  cache?: MediaCache;
  /**
   * Amplifier on this long before sound: the profile's warm-up plus a margin.
   * Absent: the warm-up the device reports once started (DeviceGateway.amplifierWarmupMs)
   * + 500 ms, and 3.5 s until it has (the longest warm-up in hardware/profiles, 3 s, + 500 ms).
   */
  leadMs?: number;
  /**
   * And off this long after the last programme. Absent: the hold the device
   * reports once started (DeviceGateway.amplifierHoldMs, the profile's
   * power sequencing), and 5 s until it has.
   */
  tailMs?: number;
  /** Hand an entry to the engine this long before its start (default lead + 3 s). */
  prepareAheadMs?: number;
  lateToleranceMs?: number;
  /** When the event journal sends again what the server did not acknowledge (defaults in playout/receipts.ts); a simulated fleet compresses the wait. */
  journalResend?: Pick<ReceiptJournalOptions, 'ackTimeoutMs' | 'retry'>;
  /**
   * Builds the live-stream receiver (default `new LiveReceiver(options)`). A
   * caller may put something in front of it: the fleet runner puts a
   * simulated 4G link that delays or loses live audio (firmware-sim/live-link.ts).
   */
  createLiveReceiver?: (options: LiveReceiverOptions) => LiveReceiver;
}

/**
 * Software updates (edge-agent/update/): without it the agent does not
 * subscribe to its update orders. main.ts passes a port that exits (systemd
 * restarts the agent into the new slot); the fleet runner one that replaces
 * the site's agent object.
 */
export interface UpdateSetup {
  port: UpdatePort;
  /** Which slot this program runs from (default: the launcher's LOANET_SLOT, else 'factory'). */
  slot?: SlotName;
  /** The public keys whose signatures this board trusts. */
  trustedKeys: readonly TrustedKey[];
  /** The board's CPU architecture as releases name it (default: this machine's). */
  arch?: string;
  get?: HttpGet;
  backoff?: Backoff;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** How often the switch and the health check look again (default 1 s). */
  pollMs?: number;
  /** The health check's sound check (default: the devices' own, edge-agent/update/sound-check.ts); a simulation may inject a failing one. */
  soundCheck?: () => Promise<{ ok: boolean; detail: string }>;
}

export interface EdgeAgentOptions {
  config: AgentConfig;
  gateway: DeviceGateway;
  playout?: PlayoutSetup;
  update?: UpdateSetup;
  log?: AgentLogger;
  /** Builds the byte stream to the broker (e.g. a simulated 4G link); default: connect to `config.server.mqttUrl`. */
  mqttStream?: (() => Duplex) | undefined;
  /**
   * Default: reboot the devices through the gateway, then reconnect. On a real
   * board pass a hook that reboots the machine; systemd starts the agent again.
   */
  onReboot?: RebootHook;
  /**
   * The agent's clock (default the wall clock, `Date`) stamps `at` fields; when
   * given, it is also the time base of the clock exchange (t0, t3), whose
   * default is monotonic (session/clock-exchange.ts).
   */
  clock?: Clock;
  /** Uniform [0,1) source for backoff and heartbeat phase jitter. */
  random?: () => number;
  /** Command results remembered for duplicate detection (default 200). */
  ledgerCapacity?: number;
  /** Events kept while offline (default 100; the oldest is dropped first). */
  outboxCapacity?: number;
  /** Commands waiting behind the running one before new ones are refused 'busy' (default 16). */
  maxQueuedCommands?: number;
  /** Give up on a CONNACK after this long (default 30 s). */
  connectTimeoutMs?: number;
  /**
   * Test only, never set on a board: features (protocol state.features) this
   * agent leaves out of its state, so it stands in for an agent built before
   * them. Without ALERT_VERSIONS_FEATURE it also drops an alert_start that
   * carries `versions`, and a site configuration that carries `languages`,
   * as such an agent's schemas (no unknown fields) do.
   */
  withoutFeatures?: readonly string[];
}

export interface AgentStats {
  readonly connected: boolean;
  /** Successful CONNACKs. */
  readonly connects: number;
  readonly connectAttempts: number;
  /** CONNACKs refusing us (bad credential, not authorised). */
  readonly refusedConnects: number;
  readonly heartbeatsSent: number;
  /** Heartbeats not sent because the link was down (telemetry is never queued: it would be stale). */
  readonly heartbeatsDropped: number;
  /** Commands actually executed against the devices (not refusals or duplicates). */
  readonly commandsRun: number;
  readonly commandsRefused: number;
  readonly duplicateCommands: number;
  /** Payloads on `cmd` that were not a valid command. */
  readonly invalidCommands: number;
  readonly outboxSize: number;
  readonly eventsDropped: number;
  /** Clock requests sent and answers used (a stale, duplicate or impossible answer is not used). */
  readonly clockRequests: number;
  readonly clockSamples: number;
  /** Playlist payloads that were not a valid playlist (counted and dropped). */
  readonly invalidPlaylists: number;
  /** Site configurations dropped: invalid, or another site's. */
  readonly invalidConfigs: number;
  readonly lastError: string | null;
}

export interface StopOptions {
  /** true (default): say offline 'shutdown' and disconnect cleanly; false: drop the link so the broker publishes the will. */
  graceful?: boolean;
}
