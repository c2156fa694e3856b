/**
 * What a site's configuration holds and when it is a new revision: pure, no
 * store, no clock. The publisher (publisher.ts) feeds it what the registry
 * says of the site; the revision counts up only when the content changes, so
 * a board that already holds it has nothing to do and the server nothing to
 * wait for.
 */
import { createHash } from 'node:crypto';
import { PROTOCOL_VERSION, type SiteConfigMessage, type SiteDeviceProfile } from '../../protocol/index.ts';

/** The content of a site's configuration: everything in it but its version and time. */
export interface SiteConfigContent {
  areaChannels: string[];
  device: SiteDeviceProfile;
  /** Absent: not sent (an agent that does not take it); the board then speaks Vietnamese alone. */
  languages?: string[];
}

/** What the registry knows of a site that goes into its configuration. */
export interface SiteFacts {
  /** Its area and every ancestor, nearest first (CoverageService.channelKeysOfArea). */
  areaChannels: readonly string[];
  profile: string | null;
  expectedDevices: ReadonlyArray<{ id: string; kind: string }>;
  monitorMic: boolean;
  /** The site's languages in order (its area's, inherited); null: not sent, the agent does not take them (protocol ALERT_VERSIONS_FEATURE). */
  languages?: readonly string[] | null;
}

/** A site's newest revision as the store keeps it. */
export interface SiteConfigRevision {
  revision: number;
  hash: string;
  madeAt: number;
}

export function siteConfigContent(f: SiteFacts): SiteConfigContent {
  return {
    areaChannels: [...f.areaChannels],
    device: { profile: f.profile, expectedDevices: f.expectedDevices.map((d) => ({ id: d.id, kind: d.kind })), monitorMic: f.monitorMic },
    ...(f.languages ? { languages: [...f.languages] } : {}),
  };
}

/**
 * SHA-256 of the content as JSON with its keys in one fixed order (built here,
 * not taken from the caller's object, whose key order could differ). The order of
 * area channels, devices and languages counts: it is part of what the board
 * is told. Without languages the hash is what it was before they existed, so
 * a site whose agent does not take them keeps its revision.
 */
export function siteConfigHash(c: SiteConfigContent): string {
  const base: unknown[] = [c.areaChannels, c.device.profile, c.device.expectedDevices.map((d) => [d.id, d.kind]), c.device.monitorMic];
  const canonical = JSON.stringify(c.languages ? [...base, c.languages] : base);
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/** The revision for content hashing to `hash`: the stored one when the content is the same, else the next, made `now`. */
export function nextRevision(stored: SiteConfigRevision | undefined, hash: string, now: number): SiteConfigRevision {
  if (stored && stored.hash === hash) return stored;
  return { revision: (stored?.revision ?? 0) + 1, hash, madeAt: now };
}

export function siteConfigMessage(siteId: string, rev: SiteConfigRevision, content: SiteConfigContent): SiteConfigMessage {
  return {
    v: PROTOCOL_VERSION,
    siteId,
    revision: rev.revision,
    hash: rev.hash,
    at: rev.madeAt,
    areaChannels: content.areaChannels,
    device: content.device,
    ...(content.languages ? { languages: content.languages } : {}),
  };
}
