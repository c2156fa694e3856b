/**
 * The site configuration: what the server knows about one site that its
 * board needs, delivered by the server so that no file on the board decides
 * it (issue 16, item 4).
 *
 * It travels retained on `sites/{siteId}/config` (QoS 1, server → site; only
 * that site may read it). A board that (re)connects gets the newest one from
 * the broker without asking, applies it, keeps it on disk (so it works across
 * restarts without the server) and says in every heartbeat which one it holds
 * (`telemetry.config`). The server counts a board that does not hold the
 * newest after a grace period as degraded (reason `config_stale`).
 *
 * Versioned: `revision` counts up by one each time the content changes (the
 * server keeps it in its store, so it survives a restart), `hash` is the
 * SHA-256 of the content. Equal revision and hash mean nothing to do.
 *
 * Schemas only: the decoder is in site-config-decode.ts, since messages.ts
 * (which decode.ts imports) uses the report defined here.
 */
import { Type, type Static } from '@sinclair/typebox';
import { LANGUAGE_TAG_PATTERN, MAX_PLAYLIST_PARTS } from './playlist.ts';
import { PROTOCOL_VERSION } from './version.ts';

const Version = Type.Literal(PROTOCOL_VERSION, { description: 'protocol version' });
const SiteId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'site id' });
const EpochMs = Type.Integer({ minimum: 0, description: 'milliseconds since the Unix epoch' });
const AreaKey = Type.String({ pattern: '^[0-9a-z]{1,16}\\.[0-9A-Za-z-]{1,32}$', description: 'area key {structureVersion}.{code}' });

export const SiteConfigRevision = Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'counts up by one with each change of the content' });
export const SiteConfigHash = Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the content (areaChannels, device and languages), lower-case hex' });

/** Most area channels a site listens to: its area and every ancestor (four levels today). */
export const MAX_SITE_AREA_CHANNELS = 16;

/** What the registry expects of the site's hardware: kept by the board, for its logs and its technician. */
export const SiteDeviceProfile = Type.Object(
  {
    /** The hardware profile named at registration (e.g. `village-cluster-4g`); null when none was. */
    profile: Type.Union([Type.String({ maxLength: 64 }), Type.Null()]),
    expectedDevices: Type.Array(Type.Object({ id: Type.String({ maxLength: 64 }), kind: Type.String({ maxLength: 32 }) }, { additionalProperties: false }), { maxItems: 32 }),
    /** Whether the site should have a monitoring microphone (sound checks, proof of alerts). */
    monitorMic: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type SiteDeviceProfile = Static<typeof SiteDeviceProfile>;

/** sites/{siteId}/config, server → site, QoS 1, retained. */
export const SiteConfigMessage = Type.Object(
  {
    v: Version,
    siteId: SiteId,
    revision: SiteConfigRevision,
    hash: SiteConfigHash,
    /** Server clock, when this revision was made. */
    at: EpochMs,
    /**
     * The area keys whose `areas/{key}/audio` and `areas/{key}/control` the site
     * subscribes to: its own area and every ancestor, nearest first. Replaces the
     * `areaChannels` of agent.json, which is only the fallback before the first delivery.
     */
    areaChannels: Type.Array(AreaKey, { minItems: 1, maxItems: MAX_SITE_AREA_CHANNELS }),
    device: SiteDeviceProfile,
    /**
     * The languages the site's village speaks, in the order it hears them (its
     * area's own list, else the nearest ancestor's; Decree 49/2024/NĐ-CP): the
     * language versions of an alert play in this order after the Vietnamese
     * message. Sent only to an agent that declared `alert_versions` (an older
     * one refuses the field) and only when it is not Vietnamese alone; absent:
     * Vietnamese alone.
     */
    languages: Type.Optional(
      Type.Array(Type.String({ minLength: 2, maxLength: 35, pattern: LANGUAGE_TAG_PATTERN, description: 'BCP 47 language tag, canonical case' }), {
        minItems: 1,
        maxItems: MAX_PLAYLIST_PARTS,
      }),
    ),
  },
  { additionalProperties: false, $id: 'SiteConfigMessage' },
);
export type SiteConfigMessage = Static<typeof SiteConfigMessage>;

/**
 * What the agent says of its configuration in every heartbeat (telemetry.config):
 * the revision and hash it applied, or null while it runs on agent.json alone
 * (none delivered yet). Absent: an agent that predates delivered configurations.
 */
export const SiteConfigReport = Type.Object({ revision: SiteConfigRevision, hash: SiteConfigHash }, { additionalProperties: false });
export type SiteConfigReport = Static<typeof SiteConfigReport>;
