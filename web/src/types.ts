/**
 * Shapes of the API answers the console reads. The coverage model is the
 * server's own (type-only import: nothing of the server is bundled).
 */
import type { CoverageReport, AreaCoverage, Reason, SiteCondition } from '../../server/coverage/model.ts';
import type { TelemetryMessage } from '../../protocol/messages.ts';

export type { CoverageReport, AreaCoverage, Reason, SiteCondition, TelemetryMessage };

/** GET /api/commands/:id and the SSE `command` event (server/fleet/commands.ts CommandRecord). */
export interface CommandRecord {
  id: string;
  siteId: string;
  type: string;
  params: Record<string, unknown>;
  createdBy: string | null;
  createdAt: number;
  status: 'queued' | 'sent' | 'succeeded' | 'failed' | 'expired';
  completedAt: number | null;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

/** GET /api/coverage/history points (server/coverage/service.ts). */
export interface CoverageHistoryPoint {
  at: number;
  sites: number;
  operational: number;
  degraded: number;
  faulty: number;
  offline: number;
  unverified: number;
  villages: number;
  villagesCovered: number;
}

export interface Me {
  username: string;
  role: 'admin' | 'operator' | 'technician' | 'emergency' | 'viewer';
  area: string | null;
  areaName: string | null;
  permissions: string[];
  csrfToken?: string;
}

export interface SiteView {
  id: string;
  name: string;
  kind: 'station' | 'cluster';
  area: string;
  lat: number | null;
  lon: number | null;
  profile: string | null;
  expectedDevices: Array<{ id: string; kind: string }>;
  monitorMic: boolean;
  status: null | {
    condition: SiteCondition;
    since: number | null;
    reasons: Reason[];
    connected: boolean;
    firstSeenAt: number | null;
    lastSeenAt: number | null;
    lastSoundVerifiedAt: number | null;
    telemetry: TelemetryMessage | null;
  };
  pendingCommands?: CommandRecord[];
}

/** GET /api/sites?brief=true: what a map needs. */
export interface SiteBrief {
  id: string;
  name: string;
  kind: 'station' | 'cluster';
  area: string;
  lat: number | null;
  lon: number | null;
  condition: SiteCondition;
}

export interface AreaView {
  key: string;
  code: string;
  name: string;
  level: string;
  parent: string | null;
  lat: number | null;
  lon: number | null;
}

export interface SiteEvent {
  at: number;
  type: string;
  condition: string | null;
  detail: Record<string, unknown> | null;
}

export const CONDITIONS: SiteCondition[] = ['operational', 'degraded', 'faulty', 'offline', 'unverified'];
