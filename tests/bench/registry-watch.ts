/**
 * What the registry watch (server/cluster/registry-watch.ts) costs: a look
 * that finds nothing (what every server on PostgreSQL pays each second), and
 * the look that applies a burst of 5,000 site registrations made by another
 * server (an import: 5,000 transactions, 5,000 generations), which must be
 * one re-read, not 5,000. Also what noting a change adds to a registry write
 * on SQLite, where no watcher runs.
 *
 *   LOANET_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx tests/bench/registry-watch.ts
 */
import { AreaRepository } from '../../server/registry/areas.ts';
import { SiteRepository } from '../../server/registry/sites.ts';
import { FleetState } from '../../server/fleet/fleet-state.ts';
import { CoverageService } from '../../server/coverage/service.ts';
import { DEFAULT_COVERAGE_POLICY } from '../../server/coverage/model.ts';
import { RegistryWatch } from '../../server/cluster/registry-watch.ts';
import { currentRegistryGeneration, noteRegistryChanges } from '../../server/registry/changes.ts';
import { openTestStore, type TestStore } from '../helpers/store.ts';

const SITES = 5000;
const SILENT = { info() {}, warn() {}, error() {} };

async function watcherOn(store: TestStore) {
  const areas = new AreaRepository(store.db);
  const sites = new SiteRepository(store.db, areas, () => '2025');
  const since = await currentRegistryGeneration(store.db);
  await areas.load();
  await sites.load();
  const fleet = new FleetState(store.db, DEFAULT_COVERAGE_POLICY, Date.now, { writer: { mayWrite: () => false, keepMs: 60_000 } });
  await fleet.load(await sites.list());
  const coverage = new CoverageService(store.db, areas, fleet, DEFAULT_COVERAGE_POLICY, '2025');
  return { fleet, coverage, watch: new RegistryWatch({ db: store.db, areas, sites, fleet, coverage, log: SILENT, since }) };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}

/** Prints its figures as JSON (not in run.ts's table: run it alone). */
export async function runRegistryWatchBench(): Promise<void> {
  const pg = await openTestStore('postgres');
  try {
    const areas = new AreaRepository(pg.db);
    await areas.load();
    await areas.import(
      '2025',
      [
        { code: '15', name: 'Tỉnh Lào Cai', level: 'province', kind: null, parentCode: null, lat: null, lon: null },
        { code: '02683', name: 'Xã Bát Xát', level: 'commune', kind: null, parentCode: '15', lat: null, lon: null },
      ],
      'bench',
    );
    const commune = (await areas.get('2025.02683', '2025'))!;
    const b = await watcherOn(pg);
    const idle: number[] = [];
    for (let i = 0; i < 200; i++) idle.push(await timed(() => b.watch.look()));
    // 5,000 registrations by "another server", each its own transaction with its note (the credential left out: not what is measured).
    const t0 = performance.now();
    for (let i = 0; i < SITES; i++) {
      await pg.db.transaction().execute(async (trx) => {
        const id = `bx-cl${i + 1}`;
        await trx
          .insertInto('sites')
          .values({
            id,
            name: `Cụm ${i + 1}`,
            kind: 'cluster',
            area_id: commune.id,
            lat: null,
            lon: null,
            profile: null,
            expected_devices: '[]',
            monitor_mic: 0,
            created_at: Date.now(),
            updated_at: Date.now(),
          })
          .execute();
        await noteRegistryChanges(trx, 'site', [id]);
      });
    }
    const writeMs = performance.now() - t0;
    const burst = await timed(() => b.watch.look());
    console.log(
      JSON.stringify(
        {
          postgres: {
            idleLookMedianMs: +median(idle).toFixed(2),
            idleLookMaxMs: +Math.max(...idle).toFixed(2),
            burstSites: SITES,
            burstWriteMs: Math.round(writeMs),
            burstLookMs: Math.round(burst),
            fleetKnows: b.fleet.observations().length,
            watch: b.watch.stats,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await pg.close();
  }

  // SQLite: what the note adds to a write (one counter update and one upsert in the write's transaction).
  const lite = await openTestStore('sqlite');
  try {
    const n = 2000;
    const bare = await timed(async () => {
      for (let i = 0; i < n; i++) await lite.db.transaction().execute(async (trx) => void (await trx.selectFrom('areas').select('id').limit(1).execute()));
    });
    const noted = await timed(async () => {
      for (let i = 0; i < n; i++)
        await lite.db.transaction().execute(async (trx) => {
          await trx.selectFrom('areas').select('id').limit(1).execute();
          await noteRegistryChanges(trx, 'site', [`s${i}`]);
        });
    });
    console.log(JSON.stringify({ sqlite: { writes: n, noteAddsMsPerWrite: +((noted - bare) / n).toFixed(3) } }, null, 2));
  } finally {
    await lite.close();
  }
}

const isMain = import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('registry-watch.ts');
if (isMain) {
  runRegistryWatchBench().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
