/**
 * Who may publish and subscribe to what: one pure function, used by the
 * embedded broker's hooks and the EMQX authorization hook, and (through
 * `SITE_TOPIC_PATTERNS` and `areaSubscriptions`) to generate Mosquitto's ACL
 * file.
 *
 * A site publishes only its own state, telemetry, events and clock requests,
 * and subscribes only to its own command, time (clock response), playlist and
 * ack (what the server stored) topics and the audio and control channels of
 * its area and every ancestor area. No wildcards for sites: a site never needs to hear another.
 */
import {
  AUDIO_TOPIC_ROOT,
  TOPIC_ROOT,
  AREA_CHANNELS,
  areaTopic,
  parseTopic,
  siteTopic,
  siteTopicWith,
  SITE_DOWNLINK_CHANNELS,
  SITE_UPLINK_CHANNELS,
} from '../../protocol/index.ts';

export type Actor = { kind: 'site'; siteId: string; areaKeys: readonly string[] } | { kind: 'server' };
export type AclAction = 'publish' | 'subscribe';
export type AclDecision = { allow: true } | { allow: false; reason: string };

const ALLOW: AclDecision = { allow: true };

export function authorize(actor: Actor, action: AclAction, topic: string): AclDecision {
  switch (actor.kind) {
    case 'server':
      return topic.startsWith(`${TOPIC_ROOT}/`) || topic.startsWith(`${AUDIO_TOPIC_ROOT}/`)
        ? ALLOW
        : { allow: false, reason: `topic ${topic} is outside ${TOPIC_ROOT}/ and ${AUDIO_TOPIC_ROOT}/` };
    case 'site':
      return action === 'publish' ? sitePublish(actor, topic) : siteSubscribe(actor, topic);
    default: {
      const never: never = actor;
      return never;
    }
  }
}

function sitePublish(actor: { siteId: string }, topic: string): AclDecision {
  if (topic.includes('+') || topic.includes('#')) return { allow: false, reason: 'wildcards are not allowed in a topic name' };
  const t = parseTopic(topic);
  if (t?.kind !== 'site') return { allow: false, reason: `site ${actor.siteId} may not publish on ${topic}` };
  if (t.siteId !== actor.siteId) return { allow: false, reason: `site ${actor.siteId} may not publish on site ${t.siteId}'s topics` };
  if (!(SITE_UPLINK_CHANNELS as readonly string[]).includes(t.channel)) {
    return { allow: false, reason: `site ${actor.siteId} may not publish on its ${t.channel} topic` };
  }
  return ALLOW;
}

function siteSubscribe(actor: { siteId: string; areaKeys: readonly string[] }, filter: string): AclDecision {
  for (const c of SITE_DOWNLINK_CHANNELS) if (filter === siteTopic(actor.siteId, c)) return ALLOW;
  for (const key of actor.areaKeys) for (const c of AREA_CHANNELS) if (filter === areaTopic(key, c)) return ALLOW;
  return { allow: false, reason: `site ${actor.siteId} may not subscribe to ${filter}` };
}

/**
 * A site's own topics with `%u` for the site id: the same rule for every
 * site, for a broker that substitutes the client's username (a site logs in
 * with its id), as Mosquitto's `pattern` lines do.
 */
export const SITE_TOPIC_PATTERNS: { publish: readonly string[]; subscribe: readonly string[] } = {
  publish: SITE_UPLINK_CHANNELS.map((c) => siteTopicWith('%u', c)),
  subscribe: SITE_DOWNLINK_CHANNELS.map((c) => siteTopicWith('%u', c)),
};

/** The area channels (audio and control) of a site's area and its ancestors: what differs from site to site. */
export function areaSubscriptions(areaKeys: readonly string[]): string[] {
  return areaKeys.flatMap((k) => AREA_CHANNELS.map((c) => areaTopic(k, c)));
}
