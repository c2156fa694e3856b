/**
 * The CAP priority table from the environment, read once at start-up by
 * loadConfig (kept apart from cap-ingest.ts so the configuration loads
 * nothing of the alert service).
 */
import fs from 'node:fs';
import { StartupError } from '../../errors.ts';
import { DEFAULT_CAP_PRIORITY_TABLE, parsePriorityTable, type PriorityTable } from './priority.ts';

/**
 * The CAP priority table: LOANET_CAP_PRIORITY_TABLE names a JSON file of rules
 * (docs/cap.md), checked once at start-up; unset, the default table.
 */
export function capPriorityTableFrom(env: Record<string, string | undefined>): PriorityTable {
  const file = env.LOANET_CAP_PRIORITY_TABLE;
  if (!file) return DEFAULT_CAP_PRIORITY_TABLE;
  let json: unknown;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new StartupError(
      'LOANET_CONFIG_INVALID',
      `LOANET_CAP_PRIORITY_TABLE=${file} cannot be read as JSON (${(e as Error).message}); fix the file or unset LOANET_CAP_PRIORITY_TABLE for the default table`,
    );
  }
  const r = parsePriorityTable(json);
  if (!r.ok) throw new StartupError('LOANET_CONFIG_INVALID', `LOANET_CAP_PRIORITY_TABLE=${file}: ${r.errors.slice(0, 5).join('; ')}; see docs/cap.md`);
  return r.table;
}
