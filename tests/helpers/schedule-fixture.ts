/**
 * A small area tree for the schedule tests: Tỉnh Lào Cai → Huyện Bát Xát →
 * Xã Bát Xát (Thôn 1, Thôn 2) and Xã Quang Kim (Thôn 3), with a few sites;
 * broadcast items as scheduled and as stored; a broker that only hands what
 * is published to the test.
 */
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { BrokerLink } from '../../server/fleet/broker.ts';
import type { AreaLevel, AreaNode } from '../../server/registry/model.ts';
import type { ScheduledItem } from '../../server/schedule/items-store.ts';
import type { BroadcastItem, ScheduleSite } from '../../server/schedule/model.ts';

export const H = 3_600_000;
export const MIN = 60_000;
/** 2026-11-27 00:00 local (Asia/Ho_Chi_Minh). */
export const DAY0 = Date.parse('2026-11-26T17:00:00Z');

let nextId = 1;
export function area(code: string, name: string, level: AreaLevel, parent: AreaNode | null): AreaNode {
  return { id: nextId++, key: `2025.${code}`, code, version: '2025', name, level, parentId: parent?.id ?? null };
}

export const laoCai = area('10', 'Tỉnh Lào Cai', 'province', null);
export const batXatDistrict = area('083', 'Huyện Bát Xát', 'district', laoCai);
export const xaBatXat = area('02683', 'Xã Bát Xát', 'commune', batXatDistrict);
export const thon1 = area('0268301', 'Thôn 1', 'village', xaBatXat);
export const thon2 = area('0268302', 'Thôn 2', 'village', xaBatXat);
export const xaQuangKim = area('02686', 'Xã Quang Kim', 'commune', batXatDistrict);
export const thon3 = area('0268601', 'Thôn 3', 'village', xaQuangKim);
export const index = AreaIndex.build([laoCai, batXatDistrict, xaBatXat, thon1, thon2, xaQuangKim, thon3]);

export const provinceSites: ScheduleSite[] = [
  { siteId: 'bx-station', areaId: xaBatXat.id },
  { siteId: 'bx-1a', areaId: thon1.id },
  { siteId: 'bx-1b', areaId: thon1.id },
  { siteId: 'bx-1-old', areaId: thon1.id, retired: true },
  { siteId: 'bx-2', areaId: thon2.id },
  { siteId: 'qk-3', areaId: thon3.id },
];

/** An approved 10-minute item at 06:00 on DAY0; tests override what they are about. */
export function broadcastItem(over: Partial<BroadcastItem> & Pick<BroadcastItem, 'id'>): BroadcastItem {
  return {
    mediaId: 'm1',
    durationMs: 10 * MIN,
    title: over.id,
    targets: { areaKeys: [], siteIds: [] },
    start: { at: DAY0 + 6 * H },
    priority: 'normal',
    status: 'approved',
    createdBy: 'op',
    approvedBy: 'chief',
    ...over,
  };
}

/** A broadcast item as the store keeps it: created and approved at DAY0 by user 1 and 2, never cancelled; tests override the rest. */
export function scheduledItem(over: Partial<ScheduledItem> & Pick<ScheduledItem, 'id'>): ScheduledItem {
  return {
    ...broadcastItem(over),
    note: null,
    createdById: 1,
    createdAt: DAY0,
    updatedBy: 'op',
    updatedById: 1,
    updatedAt: DAY0,
    approvedById: 2,
    approvedAt: DAY0,
    cancelledBy: null,
    cancelledById: null,
    cancelledAt: null,
    cancelReason: null,
    ...over,
  };
}

/** The embedded broker as PlaylistDistributor sees it, always up, every publish handed to `publish`. */
export function publishingBroker(publish: BrokerLink['publish']): BrokerLink {
  return {
    async start() {},
    async stop() {},
    publish,
    onSiteMessage() {},
    disconnectSite() {},
    status: () => ({ kind: 'embedded', up: true, clients: 0, port: null, refusedConnects: 0, deniedPublishes: 0, deniedSubscribes: 0 }),
  };
}
