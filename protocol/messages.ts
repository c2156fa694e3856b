/**
 * JSON payloads of every MQTT message in the v1 contract, as TypeBox schemas
 * (JSON Schema at runtime, TypeScript types at compile time). Server, agent
 * and simulator import these; nobody re-declares them.
 *
 * Times are integers: milliseconds since the Unix epoch on the sender's clock
 * (`at`). Every payload carries `v` (protocol version) and `siteId`; the
 * receiver checks `siteId` against the topic it arrived on.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';
import { AsRunEvent, PlaylistReport } from './playlist.ts';
import { AlertStatusEvent } from './alert.ts';
import { StreamStatsEvent } from './stream-stats.ts';
import { SiteConfigReport } from './site-config.ts';
import { UpdateReport, UpdateStatusEvent } from './update.ts';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' });
const SiteId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' });
const EpochMs = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Short = (maxLength = 200) => Type.String({ maxLength });

// ---------------------------------------------------------------- state ----

export const SiteStateMessage = Type.Object(
  {
    v: Version,
    siteId: SiteId,
    state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
    at: EpochMs,
    agentVersion: Type.Optional(Short(40)),
    /** Why offline: 'last-will' (connection lost), 'shutdown', 'reboot'. */
    reason: Type.Optional(Short(80)),
    /**
     * What this agent can take that v1 agents did not always have (e.g. 'playlist_parts'): the server
     * sends a new command or playlist field only to a site whose agent declared it. Unknown names are
     * accepted (a newer agent). Optional: agents older than it omit it, and take none.
     */
    features: Type.Optional(Type.Array(Type.String({ pattern: '^[a-z][a-z0-9_]{0,31}$' }), { maxItems: 32 })),
  },
  { additionalProperties: false, $id: 'SiteStateMessage' },
);
export type SiteStateMessage = Static<typeof SiteStateMessage>;

// ------------------------------------------------------------ telemetry ----

export const LinkType = Type.Union(['ethernet', 'fiber', 'wifi', '4g', '3g', '2g', 'unknown'].map((t) => Type.Literal(t)));
export const PowerSource = Type.Union(['mains', 'battery', 'solar', 'unknown'].map((t) => Type.Literal(t)));
export const AmplifierFault = Type.Union(['none', 'overheat', 'overload', 'no_response'].map((t) => Type.Literal(t)));
export const LineStatus = Type.Union(['ok', 'open', 'short', 'unknown'].map((t) => Type.Literal(t)));

export const SpeakerLineReport = Type.Object(
  {
    id: Type.Integer({ minimum: 1, maximum: 64 }),
    status: LineStatus,
    impedanceOhm: Nullable(Type.Number({ minimum: 0 })),
    nominalOhm: Nullable(Type.Number({ minimum: 0 })),
  },
  { additionalProperties: false },
);

export const DeviceReport = Type.Object(
  {
    id: Short(64),
    /** Its role at the site (controller, modem…): what faults and coverage reason about. */
    kind: Short(32),
    /**
     * Its hardware id as the device says it (device protocol `hello`): what a device firmware release's
     * `target.hardware` names. Optional: agents and devices that predate it omit it.
     */
    hardware: Type.Optional(Short(64)),
    reachable: Type.Boolean(),
    firmware: Type.Optional(Short(40)),
    error: Type.Optional(Short(200)),
  },
  { additionalProperties: false },
);

export const SoundCheckSummary = Type.Object(
  {
    at: EpochMs,
    ok: Type.Boolean(),
    levelDb: Nullable(Type.Number()),
  },
  { additionalProperties: false },
);

export const TelemetryMessage = Type.Object(
  {
    v: Version,
    siteId: SiteId,
    at: EpochMs,
    seq: Type.Integer({ minimum: 0 }),
    /** The agent's heartbeat interval: the server declares the site offline after two missed. */
    intervalS: Type.Integer({ minimum: 1, maximum: 3600 }),
    uptimeS: Type.Integer({ minimum: 0 }),
    versions: Type.Object({ agent: Short(40), protocol: Version, firmware: Type.Optional(Short(40)) }, { additionalProperties: false }),
    link: Type.Object(
      {
        type: LinkType,
        signalDbm: Nullable(Type.Number({ minimum: -200, maximum: 0 })),
        operator: Type.Optional(Short(40)),
      },
      { additionalProperties: false },
    ),
    power: Type.Object(
      {
        source: PowerSource,
        mainsOk: Nullable(Type.Boolean()),
        batteryPct: Nullable(Type.Number({ minimum: 0, maximum: 100 })),
      },
      { additionalProperties: false },
    ),
    amplifier: Nullable(
      Type.Object(
        {
          on: Type.Boolean(),
          volume: Type.Integer({ minimum: 0, maximum: 100 }),
          fault: AmplifierFault,
          temperatureC: Nullable(Type.Number()),
        },
        { additionalProperties: false },
      ),
    ),
    lines: Type.Array(SpeakerLineReport, { maxItems: 64 }),
    temperatureC: Nullable(Type.Number()),
    /**
     * Server clock − agent clock (ms) as the clock exchange estimates it: positive
     * when the agent's clock is behind the server's. Null until the first exchange.
     */
    clockOffsetMs: Nullable(Type.Number()),
    /** Worst-case error of clockOffsetMs (ms, ≥ 0); null until synced. Optional: agents before clock sync omit it. */
    clockUncertaintyMs: Type.Optional(Nullable(Type.Number({ minimum: 0 }))),
    devices: Type.Array(DeviceReport, { maxItems: 32 }),
    /** Whether a monitoring microphone can verify that sound comes out. */
    monitorMic: Type.Boolean(),
    /**
     * Whether the agent has an audio output and plays programmes (bulletins, alerts, live). False for an
     * agent run without one (a heartbeat-only simulation): the server never counts it operational.
     * Optional: agents that predate it omit it, and they all play.
     */
    canPlay: Type.Optional(Type.Boolean()),
    lastSoundCheck: Nullable(SoundCheckSummary),
    /** The playlist the agent holds and the state of its media cache (protocol/playlist.ts). Optional: agents older than playlists omit it. */
    playlist: Type.Optional(PlaylistReport),
    /**
     * The site configuration the agent applied (protocol/site-config.ts); null while it runs on its
     * agent.json alone. Optional: agents older than delivered configurations omit it.
     */
    config: Type.Optional(Type.Union([SiteConfigReport, Type.Null()])),
    /**
     * Where the site stands with its latest software update order (protocol/update.ts); null when it never
     * had one. Optional: agents older than updates omit it.
     */
    update: Type.Optional(Type.Union([UpdateReport, Type.Null()])),
    /**
     * What the site plays now and since when (server clock as the agent estimates it): a bulletin by its
     * playlist entry id, an alert by its alert id, a live stream by its stream id; null when silent.
     * Optional: agents older than it omit it.
     */
    playing: Type.Optional(
      Nullable(
        Type.Object(
          {
            kind: Type.Union([Type.Literal('bulletin'), Type.Literal('alert'), Type.Literal('live')]),
            id: Type.String({ minLength: 1, maxLength: 120 }),
            since: EpochMs,
          },
          { additionalProperties: false },
        ),
      ),
    ),
  },
  { additionalProperties: false, $id: 'TelemetryMessage' },
);
export type TelemetryMessage = Static<typeof TelemetryMessage>;
export type SpeakerLineReport = Static<typeof SpeakerLineReport>;
export type DeviceReport = Static<typeof DeviceReport>;

// ------------------------------------------------------------- commands ----

const CommandBase = {
  v: Version,
  /** Request id; the agent answers exactly once per id with a cmd_result event. */
  id: Type.String({ minLength: 8, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
  siteId: SiteId,
  issuedAt: EpochMs,
  /** After this the agent refuses the command as expired instead of running it late. */
  expiresAt: EpochMs,
};

export const SetVolumeCommand = Type.Object(
  { ...CommandBase, type: Type.Literal('set_volume'), params: Type.Object({ level: Type.Integer({ minimum: 0, maximum: 100 }) }, { additionalProperties: false }) },
  { additionalProperties: false },
);
export const AmpPowerCommand = Type.Object(
  { ...CommandBase, type: Type.Literal('amp_power'), params: Type.Object({ on: Type.Boolean() }, { additionalProperties: false }) },
  { additionalProperties: false },
);
export const TestToneCommand = Type.Object(
  {
    ...CommandBase,
    type: Type.Literal('test_tone'),
    params: Type.Object(
      {
        hz: Type.Optional(Type.Integer({ minimum: 50, maximum: 8000 })),
        durationMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 30000 })),
        level: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export const SoundCheckCommand = Type.Object(
  { ...CommandBase, type: Type.Literal('sound_check'), params: Type.Object({}, { additionalProperties: false }) },
  { additionalProperties: false },
);
export const RebootCommand = Type.Object(
  { ...CommandBase, type: Type.Literal('reboot'), params: Type.Object({}, { additionalProperties: false }) },
  { additionalProperties: false },
);

/**
 * This site's acoustic delay for live streams: they play `metres` / 343 m/s
 * later here (negative: earlier), so a technician between two clusters can line up
 * their horns. Kept by the agent across restarts; the range is the agent config's.
 */
export const SetAcousticDelayCommand = Type.Object(
  {
    ...CommandBase,
    type: Type.Literal('set_acoustic_delay'),
    params: Type.Object({ metres: Type.Number({ minimum: -100, maximum: 1000 }) }, { additionalProperties: false }),
  },
  { additionalProperties: false },
);

export const CommandMessage = Type.Union([SetVolumeCommand, AmpPowerCommand, TestToneCommand, SoundCheckCommand, RebootCommand, SetAcousticDelayCommand], {
  $id: 'CommandMessage',
});
export type CommandMessage = Static<typeof CommandMessage>;
export type CommandType = CommandMessage['type'];
export const COMMAND_TYPES: readonly CommandType[] = ['set_volume', 'amp_power', 'test_tone', 'sound_check', 'reboot', 'set_acoustic_delay'];

// --------------------------------------------------------------- events ----

const EventBase = { v: Version, siteId: SiteId, at: EpochMs };

export const ErrorInfo = Type.Object({ code: Short(64), message: Short(500) }, { additionalProperties: false });

/** The answer to a command: exactly one per command id. */
export const CommandResultEvent = Type.Object(
  {
    ...EventBase,
    type: Type.Literal('cmd_result'),
    cmdId: CommandBase.id,
    cmdType: Type.Union(COMMAND_TYPES.map((t) => Type.Literal(t))),
    ok: Type.Boolean(),
    /** Small command-specific answer, e.g. {"volume": 70} or a sound check's level. */
    result: Type.Optional(Type.Record(Type.String({ maxLength: 40 }), Type.Union([Type.String({ maxLength: 200 }), Type.Number(), Type.Boolean(), Type.Null()]))),
    error: Type.Optional(ErrorInfo),
  },
  { additionalProperties: false },
);

/** A device raised or cleared a fault (sent at once, not only in the next heartbeat). */
export const FaultEvent = Type.Object(
  {
    ...EventBase,
    type: Type.Union([Type.Literal('fault'), Type.Literal('fault_cleared')]),
    device: Short(64),
    fault: Short(64),
    detail: Type.Optional(Short(300)),
  },
  { additionalProperties: false },
);

/** Result of playing a test tone and listening with the monitoring microphone. */
export const SoundCheckEvent = Type.Object(
  {
    ...EventBase,
    type: Type.Literal('sound_check'),
    ok: Type.Boolean(),
    levelDb: Nullable(Type.Number()),
    thresholdDb: Type.Number(),
    toneHz: Type.Integer(),
    durationMs: Type.Integer(),
    trigger: Type.Union([Type.Literal('command'), Type.Literal('schedule')]),
    detail: Type.Optional(Short(300)),
  },
  { additionalProperties: false },
);

export const SiteEventMessage = Type.Union([CommandResultEvent, FaultEvent, SoundCheckEvent, AsRunEvent, AlertStatusEvent, StreamStatsEvent, UpdateStatusEvent], {
  $id: 'SiteEventMessage',
});
export type SiteEventMessage = Static<typeof SiteEventMessage>;
export type CommandResultEvent = Static<typeof CommandResultEvent>;
export type FaultEvent = Static<typeof FaultEvent>;
export type SoundCheckEvent = Static<typeof SoundCheckEvent>;
