/**
 * Registry changes for the other servers on one PostgreSQL store: each write
 * of a site or an area notes, in its own transaction, which one changed
 * (`noteRegistryChanges`), and every server's watcher
 * (server/cluster/registry-watch.ts) reads what changed since it last looked
 * (`readRegistryChanges`) and re-reads those sites and areas.
 *
 * The table (migration 28) holds one row per site or area with the generation
 * of its newest change, and a counter row whose generation every note raises:
 * that update holds the counter's row until the commit, so registry writes
 * commit in generation order and a reader that saw generation n has seen every
 * change below n. A burst of writes (an import) leaves one row per site, read
 * in one query, coalesced by `coalesceRegistryChanges` into one re-read.
 */
import { type Kysely, PostgresAdapter, sql, type Transaction } from 'kysely';
import type { Database } from '../store/schema.ts';

export type RegistryChangeKind = 'site' | 'area';

export interface RegistryChange {
  kind: RegistryChangeKind;
  /** A site's id, an area's id in decimal. */
  ref: string;
  gen: number;
}

/** The PostgreSQL channel a registry write notifies on commit: watchers listening look at once instead of at their next poll. */
export const REGISTRY_CHANNEL = 'loanet_registry';

/** Rows per insert: SQLite takes at most 32,766 parameters in one statement. */
const CHUNK = 1000;

/** Notes that these sites or areas changed, in the transaction that changed them; the generation given to them. */
export async function noteRegistryChanges(trx: Transaction<Database>, kind: RegistryChangeKind, refs: readonly (string | number)[]): Promise<number> {
  const { gen } = await trx
    .updateTable('registry_changes')
    .set((eb) => ({ gen: eb('gen', '+', 1) }))
    .where('kind', '=', 'counter')
    .where('ref', '=', '')
    .returning('gen')
    .executeTakeFirstOrThrow();
  const unique = [...new Set(refs.map(String))];
  for (let i = 0; i < unique.length; i += CHUNK) {
    await trx
      .insertInto('registry_changes')
      .values(unique.slice(i, i + CHUNK).map((ref) => ({ kind, ref, gen })))
      .onConflict((oc) => oc.columns(['kind', 'ref']).doUpdateSet({ gen }))
      .execute();
  }
  // Sent by PostgreSQL at the commit, not before (and not at all on a rollback); a wake-up only: the poll stays the path.
  if (trx.getExecutor().adapter instanceof PostgresAdapter) await sql`SELECT pg_notify(${REGISTRY_CHANNEL}, '')`.execute(trx);
  return Number(gen);
}

/**
 * The changes after generation `after` (the counter row among them when any is), oldest first, at most `limit`
 * rows: one indexed query, which finds nothing most of the time.
 */
export async function readRegistryChanges(db: Kysely<Database>, after: number, limit: number): Promise<Array<RegistryChange | { kind: 'counter'; ref: string; gen: number }>> {
  const rows = await db.selectFrom('registry_changes').select(['kind', 'ref', 'gen']).where('gen', '>', after).orderBy('gen').limit(limit).execute();
  return rows.map((r) => ({ kind: r.kind, ref: r.ref, gen: Number(r.gen) }));
}

/** The newest generation noted: where a server starting now begins watching (it has just read the whole registry). */
export async function currentRegistryGeneration(db: Kysely<Database>): Promise<number> {
  const r = await db.selectFrom('registry_changes').select('gen').where('kind', '=', 'counter').where('ref', '=', '').executeTakeFirst();
  return Number(r?.gen ?? 0);
}

/** What a watcher does with one batch of changes. */
export type RegistryReload =
  | {
      /** The areas changed: re-read the active areas (one query) and rebuild the coverage index. */
      areas: boolean;
      /** The sites to re-read, each once; 'all' when so many changed that one read of every site costs less. */
      sites: string[] | 'all';
      /** The generation read up to: the next look starts after it. */
      through: number;
    }
  | {
      /**
       * More rows than the limit: what lies beyond is unknown, so the watcher reads the counter's generation, then
       * re-reads every area and site, and goes on after that generation.
       */
      areas: true;
      sites: 'all';
      through: 'counter';
    };

/**
 * One batch of change rows as one reload: each site once however many times it
 * changed, the areas once however many changed. `rows` came in generation
 * order, at most `limit` of them: a full batch may have been cut (rows of one
 * generation, an import's, can straddle the limit), so it means a re-read of
 * everything instead.
 */
export function coalesceRegistryChanges(
  rows: ReadonlyArray<{ kind: RegistryChangeKind | 'counter'; ref: string; gen: number }>,
  after: number,
  opts: { limit: number; maxSites: number },
): RegistryReload {
  if (rows.length >= opts.limit) return { areas: true, sites: 'all', through: 'counter' };
  let through = after;
  let areas = false;
  const sites = new Set<string>();
  for (const r of rows) {
    through = Math.max(through, r.gen);
    if (r.kind === 'area') areas = true;
    else if (r.kind === 'site') sites.add(r.ref);
  }
  return { areas, sites: sites.size > opts.maxSites ? 'all' : [...sites].sort(), through };
}
