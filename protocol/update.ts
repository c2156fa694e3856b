/**
 * Software updates over MQTT: what the server asks a site to install, and
 * what the site says of it (docs/protocol.md, "update"; docs/updates.md).
 *
 * The order travels retained on `sites/{siteId}/update` (QoS 1, server →
 * site; only that site may read it), like the site's configuration: a board
 * that (re)connects gets the order it should be working on without asking,
 * and one retained message per site is the whole desired state. The server
 * publishes an order to a site only when the rollout starts that site (its
 * wave, its in-flight limit, its broadcast windows); it replaces it with
 * `cancel` when the rollout is aborted, and clears it (an empty payload)
 * once the site finished. A stopped rollout therefore stops its sites: no
 * board keeps retrying a release nobody wants any more.
 *
 * The order is small and names the release; the signed manifest, its
 * signatures and the files come over HTTP from the server with the site's
 * own credential (`GET /api/releases/{releaseId}/manifest`, `…/signatures`,
 * `…/files/{path}` with HTTP Range). The board trusts none of it because it
 * came from the server: it checks the signatures against its own trusted
 * keys (common/release.ts) before it writes a byte, and each file's SHA-256
 * before it installs it. `manifestSha256` binds the order to one manifest,
 * so a server cannot swap the release under a running rollout.
 *
 * The site reports where it stands in every heartbeat (`telemetry.update`)
 * and at once on each change (`update_status` event, not acknowledged: the
 * next heartbeat supersedes it, and the state is a state, not a record).
 * States follow ThingsBoard's OTA states, with the steps an A/B switch adds.
 */
import { Type, type Static } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' });
const SiteId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' });
const EpochMs = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });
const Short = (maxLength = 200) => Type.String({ maxLength });

/** Ids of rollouts and releases: as safe in a URL path as in a file name. */
export const UPDATE_ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
const UpdateId = Type.String({ pattern: UPDATE_ID_PATTERN });
const SemVer = Type.String({ pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]{1,40})?$', maxLength: 60 });

export const UpdateComponent = Type.Union([Type.Literal('agent'), Type.Literal('device-firmware')]);
export type UpdateComponent = Static<typeof UpdateComponent>;

/** sites/{siteId}/update, server → site, QoS 1, retained. */
export const UpdateOrder = Type.Object(
  {
    v: Version,
    siteId: SiteId,
    /** Server clock, when the order was made. */
    at: EpochMs,
    rolloutId: UpdateId,
    /** `install`: bring this release here. `cancel`: stop working on this rollout (a download stops; a switch already made is still checked and kept or rolled back). */
    action: Type.Union([Type.Literal('install'), Type.Literal('cancel')]),
    component: UpdateComponent,
    releaseId: UpdateId,
    version: SemVer,
    /** SHA-256 of the manifest's exact bytes (what the signatures cover): the site refuses any other manifest under this order. */
    manifestSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    /** Device firmware: the ids of the devices behind the agent to flash (each checked against the release's hardware). Absent for the agent. */
    devices: Type.Optional(Type.Array(Short(64), { minItems: 1, maxItems: 32 })),
    /** Most bytes the site may download for this order, every retry and resume included; past it the site stops with `budget_exceeded`. */
    budgetBytes: Type.Integer({ minimum: 1 }),
    /** The new version must pass its health check (connected, heartbeat, configuration, sound heard) within this many seconds, else it is rolled back. */
    healthTimeoutS: Type.Integer({ minimum: 30, maximum: 3600 }),
  },
  { additionalProperties: false, $id: 'UpdateOrder' },
);
export type UpdateOrder = Static<typeof UpdateOrder>;

/**
 * Where a site stands with an order.
 * - `queued`: received, not begun (waiting for the link, or for playback to end);
 * - `downloading` → `downloaded` → `verified`: files fetched, then each file's hash checked;
 * - `installing`: writing beside the running version (agent: the inactive slot; device: flashing);
 * - `waiting_idle`: installed, the switch waits until nothing plays (an alert, a live stream, a bulletin);
 * - `testing`: running the new version on trial, its health check under way;
 * - `updated`: the new version passed and is committed (final);
 * - `failed`: not installed, the old version runs; `reason` says why (final);
 * - `rolled_back`: the new version ran and failed its check (or crashed), the previous one runs again (final);
 * - `cancelled`: the order was cancelled before the switch (final).
 */
export const UPDATE_STATES = ['queued', 'downloading', 'downloaded', 'verified', 'installing', 'waiting_idle', 'testing', 'updated', 'failed', 'rolled_back', 'cancelled'] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];
export const FINAL_UPDATE_STATES: readonly UpdateState[] = ['updated', 'failed', 'rolled_back', 'cancelled'];

/**
 * Stable reasons for `failed` and `rolled_back`. The release checks' codes
 * (common/release.ts ReleaseRefusal), then the download's, the install's, the
 * health check's and the device firmware exchange's (edge-agent/devices/firmware-update.ts).
 */
export const UPDATE_FAILURE_REASONS = [
  // the release, refused before a byte is written
  'malformed',
  'unsigned',
  'unknown_key',
  'bad_signature',
  'wrong_component',
  'wrong_target',
  'downgrade',
  'same_version',
  'too_old_to_upgrade',
  'manifest_mismatch',
  // the download
  'download_refused',
  'download_failed',
  'budget_exceeded',
  'hash_mismatch',
  'disk_full',
  // the switch and the trial
  'install_failed',
  'crash_loop',
  'not_connected',
  'no_heartbeat',
  'no_config',
  'sound_check_failed',
  'health_timeout',
  // device firmware through the gateway
  'device_unreachable',
  'wrong_hardware',
  'too_large',
  'verify_mismatch',
  'self_test_failed',
  'health_check_failed',
  'not_confirmed',
  'no_boot',
  'device_error',
] as const;
export type UpdateFailureReason = (typeof UPDATE_FAILURE_REASONS)[number];

const StateField = Type.Union(UPDATE_STATES.map((s) => Type.Literal(s)));
const ReasonField = Type.Union(UPDATE_FAILURE_REASONS.map((r) => Type.Literal(r)));

/** One device's firmware update, as the agent drives it. */
export const DeviceUpdateReport = Type.Object(
  {
    id: Short(64),
    state: StateField,
    /** Bytes the device has written and verified of the image. */
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    reason: Type.Optional(ReasonField),
    detail: Type.Optional(Short(300)),
  },
  { additionalProperties: false },
);
export type DeviceUpdateReport = Static<typeof DeviceUpdateReport>;

/** Where the site stands with its latest order: in every heartbeat (`telemetry.update`) and each `update_status` event. */
export const UpdateReport = Type.Object(
  {
    rolloutId: UpdateId,
    component: UpdateComponent,
    releaseId: UpdateId,
    version: SemVer,
    state: StateField,
    /** Bytes of the release on disk here, verified or not yet; and the release's total. */
    bytes: Type.Optional(Type.Integer({ minimum: 0 })),
    total: Type.Optional(Type.Integer({ minimum: 0 })),
    /** Bytes downloaded for this order so far, every retry included (what its budget counts). */
    downloaded: Type.Optional(Type.Integer({ minimum: 0 })),
    reason: Type.Optional(ReasonField),
    /** For a person: what failed, in a sentence (English; the console words the reason). */
    detail: Type.Optional(Short(300)),
    /** The version running before this order (what a rollback returns to). */
    fromVersion: Type.Optional(Short(60)),
    devices: Type.Optional(Type.Array(DeviceUpdateReport, { maxItems: 32 })),
    /** Site clock, when the state last changed. */
    since: EpochMs,
  },
  { additionalProperties: false },
);
export type UpdateReport = Static<typeof UpdateReport>;

/** sites/{siteId}/event `update_status`: sent on each change of the report (not acknowledged; the heartbeat carries the same). */
export const UpdateStatusEvent = Type.Object(
  {
    v: Version,
    siteId: SiteId,
    at: EpochMs,
    type: Type.Literal('update_status'),
    update: UpdateReport,
  },
  { additionalProperties: false },
);
export type UpdateStatusEvent = Static<typeof UpdateStatusEvent>;
