import type { SiteCondition } from '../../api/index.ts';

/** Every site condition, best first (api/common.ts): a condition the server adds and this list lacks fails the typecheck below. */
export const CONDITIONS = ['operational', 'degraded', 'faulty', 'offline', 'unverified'] as const satisfies readonly SiteCondition[];
type Missing = Exclude<SiteCondition, (typeof CONDITIONS)[number]>;
const everyCondition: [Missing] extends [never] ? true : never = true;
void everyCondition;
