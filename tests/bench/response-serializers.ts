/**
 * What the response serialisers cost, compiled from the schemas as declared
 * and from the copies server/http/serializer-schema.ts makes (a union the JSON
 * type decides, written with a `typeof` test instead of Ajv validators), side
 * by side in one process:
 * - the heap they hold once every route's serialiser is compiled and GET
 *   /api/sites has been answered once (fast-json-stringify compiles an
 *   `anyOf`'s validators at its first value), after forced collections;
 * - the time to compile them all;
 * - the time to write GET /api/sites' answer for the sites registered.
 *
 * The schemas are the ones a real test server compiled at its start (every
 * route, every status); the answer is that server's own, for `--sites` sites
 * (500 by default, 100 with --quick).
 *
 *   npx tsx tests/bench/response-serializers.ts [--quick]
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { compiledSchemas } from '../../server/http/serializer-cache.ts';
import { serializerSchema } from '../../server/http/serializer-schema.ts';
import { importLaoCai2025, startTestServer } from '../helpers/server.ts';
import { printTable, type BenchResult } from './lib/result.ts';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const heapAfterGc = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};

type Serialize = (v: unknown) => string;

function compileAll(list: ReturnType<typeof compiledSchemas>, rewrite: boolean): Serialize[] {
  const byShared = new Map<string, ReturnType<ReturnType<typeof SerializerSelector>>>();
  return list.map(({ shared, schema }) => {
    const key = JSON.stringify(shared);
    let factory = byShared.get(key);
    if (!factory) {
      const ext = shared && (rewrite ? Object.fromEntries(Object.entries(shared).map(([id, s]) => [id, serializerSchema(s)])) : shared);
      factory = SerializerSelector()(ext, {});
      byShared.set(key, factory);
    }
    return factory({ schema: rewrite ? serializerSchema(schema) : schema, method: 'GET', url: '/', httpStatus: '200' }) as Serialize;
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export async function runResponseSerializersBench(opts: { quick: boolean; log?: (line: string) => void }): Promise<BenchResult[]> {
  const log = opts.log ?? console.log;
  const sites = opts.quick ? 100 : 500;
  const t = await startTestServer();
  let body: unknown;
  let sitesSchema: unknown;
  let list: ReturnType<typeof compiledSchemas>;
  try {
    await importLaoCai2025(t);
    for (let i = 0; i < sites; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, sites - i) }, (_, k) =>
          t.api('POST', '/api/sites', { id: `bench-ser-${i + k}`, name: `Cụm loa ${i + k}`, kind: 'cluster', area: '02683', lat: 22.6, lon: 103.8 }),
        ),
      );
    }
    const r = await t.api('GET', '/api/sites?limit=50000');
    if (r.status !== 200 || (r.body as { sites: unknown[] }).sites.length < sites) throw new Error(`GET /api/sites: ${r.status}`);
    body = r.body;
    list = compiledSchemas();
    // The one whose fields are the answer's: an object of `total` and `sites` (api/sites.ts SiteList).
    const keysOf = (s: unknown) => Object.keys((s as { properties?: object }).properties ?? {}).join(',');
    sitesSchema = list.find((e) => keysOf(e.schema) === 'total,sites')?.schema;
    if (!sitesSchema) throw new Error('the GET /api/sites schema was not among those compiled');
  } finally {
    await t.stop();
  }
  log(`response-serializers: ${list.length} schemas compiled by the server, GET /api/sites with ${sites} sites (${JSON.stringify(body).length} bytes)`);

  const variant = (rewrite: boolean) => {
    const before = heapAfterGc();
    const t0 = performance.now();
    const all = compileAll(list, rewrite);
    const compileMs = performance.now() - t0;
    const [writeSites] = compileAll([{ shared: list[0]!.shared, schema: sitesSchema }], rewrite);
    const first = writeSites!(body);
    const held = heapAfterGc() - before;
    const times: number[] = [];
    for (let i = 0; i < (opts.quick ? 30 : 200); i++) {
      const s = performance.now();
      writeSites!(body);
      times.push(performance.now() - s);
    }
    return { all, first, figures: { heldMiB: held / 2 ** 20, compileAllMs: compileMs, writeSitesMedianMs: median(times) } };
  };
  // In the order A B B A, each figure the mean of its two: what runs first pays the warm-up. Each set is kept alive
  // until its heap was read.
  const runs = [variant(false), variant(true), variant(true), variant(false)];
  if (new Set(runs.map((r) => r.first)).size !== 1) throw new Error('the serialisers wrote different JSON for GET /api/sites');
  const meanOf = (a: (typeof runs)[number], b: (typeof runs)[number]) => ({
    all: [...a.all, ...b.all],
    figures: Object.fromEntries(Object.entries(a.figures).map(([k, v]) => [k, (v + b.figures[k as keyof typeof b.figures]) / 2])) as (typeof runs)[number]['figures'],
  });
  const declared = meanOf(runs[0]!, runs[3]!);
  const copies = meanOf(runs[1]!, runs[2]!);
  const ratio = Object.fromEntries(Object.entries(copies.figures).map(([k, v]) => [k, v / declared.figures[k as keyof typeof declared.figures]]));
  const params = { sites, schemas: list.length };
  return [
    { scenario: 'response-serializers', params: { ...params, schemas_as: 'declared' }, figures: declared.figures },
    { scenario: 'response-serializers', params: { ...params, schemas_as: 'type lists' }, figures: copies.figures },
    {
      scenario: 'response-serializers',
      params: { ...params, schemas_as: 'type lists / declared' },
      figures: ratio,
      note: `${declared.all.length + copies.all.length} serialisers compiled; the same JSON written`,
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runResponseSerializersBench({ quick: process.argv.includes('--quick') }).then(
    (r) => {
      printTable(r);
      process.exit(0);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
