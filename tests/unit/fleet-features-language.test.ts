/**
 * What an agent declares it takes (state.features, e.g. playlist_parts for
 * bulletins in several languages) is kept by the fleet beside its agent
 * version: read by playlist distribution, which watches the generation to
 * send a site parts once its agent declares them.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_COVERAGE_POLICY } from '../../server/coverage/model.ts';
import { FleetState } from '../../server/fleet/fleet-state.ts';
import type { Site } from '../../server/registry/sites.ts';
import { PLAYLIST_PARTS_FEATURE, PROTOCOL_VERSION, type SiteStateMessage } from '../../protocol/index.ts';
import { openTestStore, type TestStore } from '../helpers/store.ts';

const T0 = Date.UTC(2026, 11, 5, 2, 0);
const SITE: Site = {
  id: 'cl-hmong',
  name: "Cụm loa thôn H'Mông",
  kind: 'cluster',
  areaId: 7,
  areaKey: '2025.0264701',
  lat: null,
  lon: null,
  profile: null,
  expectedDevices: [],
  monitorMic: false,
  createdAt: T0,
  updatedAt: T0,
  retiredAt: null,
};

describe('the fleet keeps the features each agent declares for its languages', () => {
  let store: TestStore;
  let fleet: FleetState;
  let at = T0;
  const state = (over: Partial<SiteStateMessage>): SiteStateMessage => ({ v: PROTOCOL_VERSION, siteId: SITE.id, state: 'online', at: (at += 1000), ...over });

  beforeEach(async () => {
    store = await openTestStore();
    fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, () => at);
    fleet.upsertSite(SITE);
  });
  afterEach(async () => {
    await fleet.settled();
    await store.close();
  });

  it('an older agent declares nothing; an upgraded one playlist_parts, which raises the generation once', () => {
    fleet.applyState(SITE.id, state({ agentVersion: '0.9.0' }), false);
    expect(fleet.features(SITE.id)).toEqual([]);
    const g = fleet.featuresGeneration();
    fleet.applyState(SITE.id, state({ agentVersion: '1.0.0', features: [PLAYLIST_PARTS_FEATURE] }), false);
    expect(fleet.features(SITE.id)).toEqual(['playlist_parts']);
    expect(fleet.featuresGeneration()).toBe(g + 1);
    // The same again (a reconnect), or going offline: nothing changes.
    fleet.applyState(SITE.id, state({ features: [PLAYLIST_PARTS_FEATURE] }), false);
    fleet.applyState(SITE.id, state({ state: 'offline', reason: 'last-will' }), false);
    expect(fleet.features(SITE.id)).toEqual(['playlist_parts']);
    expect(fleet.featuresGeneration()).toBe(g + 1);
    // Rolled back to an agent without it.
    fleet.applyState(SITE.id, state({ agentVersion: '0.9.0' }), false);
    expect(fleet.features(SITE.id)).toEqual([]);
    expect(fleet.featuresGeneration()).toBe(g + 2);
  });

  it('they are written beside the agent version in the site’s connection event', async () => {
    // The event's row refers to the site's.
    await store.db
      .insertInto('areas')
      .values({
        id: SITE.areaId,
        version: '2025',
        code: '0264701',
        name: 'Thôn 1',
        level: 'village',
        kind: null,
        parent_id: null,
        lat: null,
        lon: null,
        source: null,
        created_at: T0,
        updated_at: T0,
        retired_at: null,
        languages: '["hmn","vi"]',
      })
      .execute();
    await store.db
      .insertInto('sites')
      .values({ id: SITE.id, name: SITE.name, kind: SITE.kind, area_id: SITE.areaId, lat: null, lon: null, profile: null, created_at: T0, updated_at: T0, retired_at: null })
      .execute();
    fleet.applyState(SITE.id, state({ agentVersion: '1.0.0', features: [PLAYLIST_PARTS_FEATURE] }), false);
    await fleet.flush();
    const rows = await store.db.selectFrom('site_events').select(['type', 'detail']).where('site_id', '=', SITE.id).where('type', '=', 'connected').execute();
    expect(rows.map((r) => JSON.parse(r.detail ?? '{}'))).toContainEqual({ reason: null, agentVersion: '1.0.0', features: ['playlist_parts'] });
  });
});
