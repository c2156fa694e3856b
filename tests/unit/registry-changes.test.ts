import { describe, expect, it } from 'vitest';
import type { Kysely } from 'kysely';
import { coalesceRegistryChanges } from '../../server/registry/changes.ts';
import { RegistryWatch } from '../../server/cluster/registry-watch.ts';
import type { Database } from '../../server/store/schema.ts';

const opts = { limit: 100, maxSites: 3 };

describe('coalescing registry changes', () => {
  it('nothing found: nothing to re-read, the cursor stays', () => {
    expect(coalesceRegistryChanges([], 7, opts)).toEqual({ areas: false, sites: [], through: 7 });
  });

  it('each site once however often it changed, the areas once, read through the newest generation', () => {
    const rows = [
      { kind: 'site' as const, ref: 'b', gen: 8 },
      { kind: 'area' as const, ref: '4', gen: 9 },
      { kind: 'area' as const, ref: '5', gen: 9 },
      { kind: 'site' as const, ref: 'a', gen: 10 },
      { kind: 'counter' as const, ref: '', gen: 10 },
    ];
    expect(coalesceRegistryChanges(rows, 7, opts)).toEqual({ areas: true, sites: ['a', 'b'], through: 10 });
  });

  it('more changed sites than maxSites: every site in one read', () => {
    const rows = ['a', 'b', 'c', 'd'].map((ref, i) => ({ kind: 'site' as const, ref, gen: i + 1 }));
    expect(coalesceRegistryChanges(rows, 0, opts)).toEqual({ areas: false, sites: 'all', through: 4 });
  });

  it('a burst of 5,000 registrations in one batch is one re-read of every site', () => {
    const rows = Array.from({ length: 5000 }, (_, i) => ({ kind: 'site' as const, ref: `s${i}`, gen: i + 1 }));
    expect(coalesceRegistryChanges(rows, 0, { limit: 10_000, maxSites: 2000 })).toEqual({ areas: false, sites: 'all', through: 5000 });
  });

  it('a full batch may be cut inside one generation: everything is re-read, up to the counter', () => {
    const rows = Array.from({ length: 100 }, (_, i) => ({ kind: 'area' as const, ref: String(i), gen: 3 }));
    expect(coalesceRegistryChanges(rows, 2, opts)).toEqual({ areas: true, sites: 'all', through: 'counter' });
  });
});

describe('the registry watch when the store cannot be read', () => {
  it('says so once per outage, retries from the same generation, and says when it reads again', async () => {
    let down = true;
    const warned: string[] = [];
    const told: string[] = [];
    const rows = { execute: async () => (down ? Promise.reject(new Error('connection refused')) : []) };
    const chain = { select: () => chain, where: () => chain, orderBy: () => chain, limit: () => rows };
    const db = { selectFrom: () => chain } as unknown as Kysely<Database>;
    const watch = new RegistryWatch({
      db,
      areas: { load: async () => {} },
      sites: { reread: async () => [] },
      fleet: { upsertSite() {}, removeSite() {}, observation: () => undefined },
      coverage: { invalidate() {} },
      log: { info: (_o: object, m: string) => told.push(m), warn: (_o: object, m: string) => warned.push(m), error() {} },
      since: 41,
    });
    await watch.look();
    await watch.look();
    expect(watch.stats).toMatchObject({ looks: 2, failures: 2, generation: 41 });
    expect(warned).toHaveLength(1);
    down = false;
    await watch.look();
    expect(told).toEqual(['registry watch: reading changes again']);
    expect(watch.stats).toMatchObject({ looks: 3, failures: 2, applied: 0, generation: 41 });
  });
});
