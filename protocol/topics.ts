/**
 * MQTT topic names: the only place topic strings are built or parsed.
 *
 * Layout (all under `loanet/v1/`):
 *   sites/{siteId}/state       site → server, retained; the last will sets it offline
 *   sites/{siteId}/telemetry   site → server, heartbeat every N seconds
 *   sites/{siteId}/event       site → server, command results, faults, sound checks
 *   sites/{siteId}/cmd         server → site, QoS 1, each command has an id
 *   sites/{siteId}/clock       site → server, QoS 0, clock requests (NTP-style t0)
 *   sites/{siteId}/time        server → site, QoS 0, clock responses (t0 echoed, t1, t2)
 *   sites/{siteId}/playlist    server → site, QoS 1, retained: the desired playlist for the
 *                              coming horizon (protocol/playlist.ts); a site that reconnects
 *                              gets the newest one from the broker without asking
 *   sites/{siteId}/ack         server → site, QoS 1: the receipts, alert statuses and command
 *                              results the server has committed to its store (protocol/event-ack.ts)
 *   sites/{siteId}/config      server → site, QoS 1, retained: the site's configuration (its area
 *                              channels among it, protocol/site-config.ts)
 *   sites/{siteId}/update      server → site, QoS 1, retained: the software update the site should
 *                              install now, or cancel (protocol/update.ts)
 *   areas/{areaKey}/control    server → sites, JSON control of what plays on an area
 *                              (stream start/stop, alert start/cancel); same fan-out
 *   server/retained-canary     server → server, retained, external broker only: proves the
 *                              broker still holds what the server retained (retained-canary.ts)
 *
 * And outside the root, for the bytes it saves on every live message:
 *   la/{areaKey}               server → sites, an area's audio channel: binary audio frames
 *                              (audio-frame.ts, versioned by their first byte) and the retained
 *                              start of the stream on air there; one channel per area node, a
 *                              site subscribes to its own area and every ancestor, so "play to
 *                              this district" is one publish. A live message of 100 ms holds
 *                              300 bytes of speech at 24 kbit/s; `loanet/v1/areas/…/audio` was
 *                              36 bytes of topic on each, `la/…` is 16 (docs/BENCHMARKS.md).
 *
 * Ids are restricted to [a-z0-9-] (and `_`/`.` for area keys) so that a topic
 * can never contain MQTT wildcards (`+`, `#`) or extra levels (`/`).
 */
import { TOPIC_ROOT } from './version.ts';

export const SITE_ID_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;
/** Area key: `{structureVersion}.{code}`, e.g. `2025.02647`; codes may hold `-` for local (village) codes. */
export const AREA_KEY_PATTERN = /^[0-9a-z]{1,16}\.[0-9A-Za-z-]{1,32}$/;

export type SiteChannel = 'state' | 'telemetry' | 'event' | 'cmd' | 'clock' | 'time' | 'playlist' | 'ack' | 'config' | 'update';
export const SITE_CHANNELS: readonly SiteChannel[] = ['state', 'telemetry', 'event', 'cmd', 'clock', 'time', 'playlist', 'ack', 'config', 'update'];
/** Channels a site itself publishes on (the server subscribes to these for every site). */
export const SITE_UPLINK_CHANNELS: readonly SiteChannel[] = ['state', 'telemetry', 'event', 'clock'];
/** Channels the server publishes on and the site subscribes to (its own only). */
export const SITE_DOWNLINK_CHANNELS: readonly SiteChannel[] = ['cmd', 'time', 'playlist', 'ack', 'config', 'update'];

/** Area channels: binary audio frames, and JSON control of what plays there. */
export type AreaChannel = 'audio' | 'control';
export const AREA_CHANNELS: readonly AreaChannel[] = ['audio', 'control'];

export function isValidSiteId(id: string): boolean {
  return SITE_ID_PATTERN.test(id);
}

export function isValidAreaKey(key: string): boolean {
  return AREA_KEY_PATTERN.test(key);
}

export function siteTopic(siteId: string, channel: SiteChannel): string {
  if (!isValidSiteId(siteId)) throw new Error(`invalid site id "${siteId}": use a-z, 0-9 and -`);
  return siteTopicWith(siteId, channel);
}

/** A site topic with `placeholder` where the id goes, unchecked: for a broker's ACL patterns (Mosquitto's `%u`). */
export function siteTopicWith(placeholder: string, channel: SiteChannel): string {
  return `${TOPIC_ROOT}/sites/${placeholder}/${channel}`;
}

/** The root of the area audio channels: short, since every live message carries it (see above). */
export const AUDIO_TOPIC_ROOT = 'la';

export function areaTopic(areaKey: string, channel: AreaChannel): string {
  if (!isValidAreaKey(areaKey)) throw new Error(`invalid area key "${areaKey}"`);
  return channel === 'audio' ? `${AUDIO_TOPIC_ROOT}/${areaKey}` : `${TOPIC_ROOT}/areas/${areaKey}/${channel}`;
}

export function areaAudioTopic(areaKey: string): string {
  return areaTopic(areaKey, 'audio');
}

export function areaControlTopic(areaKey: string): string {
  return areaTopic(areaKey, 'control');
}

/** The server's retained canary on an external broker (protocol/retained-canary.ts); not a site or area topic. */
export const RETAINED_CANARY_TOPIC = `${TOPIC_ROOT}/server/retained-canary`;

/** Subscription filters the server uses to hear every site. */
export const SERVER_SUBSCRIPTIONS: readonly string[] = SITE_UPLINK_CHANNELS.map((c) => `${TOPIC_ROOT}/sites/+/${c}`);

export type ParsedTopic = { kind: 'site'; siteId: string; channel: SiteChannel } | { kind: 'area-audio'; areaKey: string } | { kind: 'area-control'; areaKey: string };

/** Parse a concrete topic name (no wildcards); undefined when it is not a loanet v1 topic. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split('/');
  if (parts.length === 2 && parts[0] === AUDIO_TOPIC_ROOT) return isValidAreaKey(parts[1]!) ? { kind: 'area-audio', areaKey: parts[1]! } : undefined;
  if (parts.length !== 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const [, , family, id, leaf] = parts as [string, string, string, string, string];
  if (family === 'sites' && isValidSiteId(id) && (SITE_CHANNELS as readonly string[]).includes(leaf)) {
    return { kind: 'site', siteId: id, channel: leaf as SiteChannel };
  }
  if (family === 'areas' && isValidAreaKey(id) && leaf === 'control') {
    return { kind: 'area-control', areaKey: id };
  }
  return undefined;
}
