/**
 * What /livez and /readyz answer, with the meaning Kubernetes gives them.
 * Liveness is only "the event loop answers": it never asks the store or the
 * broker, so an orchestrator does not restart a healthy server because a
 * dependency is down (a restart would not bring the dependency back, and it
 * would cut every site's connection). Readiness says whether this server can
 * do its work now: started, not shutting down, its store there and
 * answering, its broker listening (embedded) or connected (external).
 */

export type NotReady = 'starting' | 'shutting_down' | 'store' | 'broker';

export interface ReadinessInputs {
  started: boolean;
  stopping: boolean;
  /** The database file is the one opened and a query on it answers. */
  storeUp: boolean;
  brokerUp: boolean;
}

/** The names of what is not ready, in a fixed order; empty: ready. */
export function notReady(i: ReadinessInputs): NotReady[] {
  const out: NotReady[] = [];
  if (!i.started) out.push('starting');
  if (i.stopping) out.push('shutting_down');
  if (!i.storeUp) out.push('store');
  if (!i.brokerUp) out.push('broker');
  return out;
}
