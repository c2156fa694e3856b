/**
 * Where a message the agent receives goes: its topic names a route (the
 * site's own downlink channels, or an area channel of any area the site
 * listens to), and the agent keeps one handler per route. Pure.
 */
import { parseTopic, type SiteChannel } from '../../protocol/index.ts';

export type InboundRoute = 'cmd' | 'time' | 'playlist' | 'ack' | 'config' | 'update' | 'area-control' | 'area-audio';

/** Route → handler: the agent's whole inbound dispatch. */
export type InboundHandlers = { readonly [R in InboundRoute]: (payload: Buffer) => void };

/** The site's downlink channels (protocol SITE_DOWNLINK_CHANNELS), each its own route. */
const SITE_ROUTES: Partial<Record<SiteChannel, InboundRoute>> = { cmd: 'cmd', time: 'time', playlist: 'playlist', ack: 'ack', config: 'config', update: 'update' };

/** The route of a received topic; undefined for another site's topic or anything not loanet v1. */
export function inboundRoute(siteId: string, topic: string): InboundRoute | undefined {
  const parsed = parseTopic(topic);
  if (!parsed) return undefined;
  if (parsed.kind !== 'site') return parsed.kind;
  return parsed.siteId === siteId ? SITE_ROUTES[parsed.channel] : undefined;
}
