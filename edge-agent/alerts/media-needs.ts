/**
 * One media cache, several parts of the agent that need files in it: the
 * playlist executor (bulletins) and the alert handler each declare their own
 * needs, and the cache is told the union. The cache's `setNeeded` replaces
 * the whole needed set, so without this an alert's audio would be dropped
 * from the cache's needs by the next playlist change, and the reverse.
 */
import type { MediaCache, MediaRef } from '../media-cache/types.ts';
import type { FetchFailure } from './decide.ts';

/** A cache that can say why a needed file is still missing (FileMediaCache's `errors()`). */
type ReportsErrors = { errors?(): ReadonlyArray<FetchFailure & { sha256: string }> };

export class SharedMediaNeeds {
  private readonly parts = new Map<string, readonly MediaRef[]>();

  constructor(private readonly cache: Pick<MediaCache, 'setNeeded'> & ReportsErrors) {}

  /** Why a needed file is not in the cache yet (failed attempts, last error), or null while nothing failed. */
  failureOf(sha256: string): FetchFailure | null {
    const e = this.cache.errors?.().find((x) => x.sha256 === sha256);
    return e ? { attempts: e.attempts, error: e.error } : null;
  }

  set(owner: string, refs: readonly MediaRef[]): void {
    this.parts.set(owner, refs);
    const union = new Map<string, MediaRef>();
    for (const list of this.parts.values()) for (const r of list) if (!union.has(r.sha256)) union.set(r.sha256, r);
    this.cache.setNeeded([...union.values()]);
  }

  /** A view of the cache for one owner: its setNeeded declares only that owner's part. */
  viewFor<C extends Pick<MediaCache, 'setNeeded'>>(owner: string, cache: C): C {
    return new Proxy(cache, {
      get: (target, prop, receiver) => {
        if (prop === 'setNeeded') return (refs: readonly MediaRef[]) => this.set(owner, refs);
        const v = Reflect.get(target, prop, receiver) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}
