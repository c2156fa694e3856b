/**
 * The last step of `npm test`: the integration and browser tests again, with
 * every test server storing in PostgreSQL instead of SQLite (one database per
 * data folder, tests/helpers/suite-database.ts). The store's own tests run on
 * both dialects in the first pass already; this one shows that every feature
 * behaves the same on the store a province with several servers runs.
 *
 * The database is LOANET_TEST_DATABASE_URL, else, under CI, the machine's
 * service (postgres://postgres@127.0.0.1:5432/postgres, which .ci/run starts
 * when it is down). On a laptop with neither it is skipped, loudly; under CI
 * it never is. Extra arguments go to vitest (a file, a -t filter).
 */
import { spawnSync } from 'node:child_process';
import { testDatabaseUrl } from '../tests/helpers/store.ts';

const url = testDatabaseUrl();
if (!url) {
  const line = '='.repeat(78);
  console.warn(
    `\n${line}\nSKIPPED: the integration and browser tests on PostgreSQL. Set LOANET_TEST_DATABASE_URL=postgres://user@host:5432/db\n(a database the tests may create databases in) to run them; CI always does.\n${line}\n`,
  );
  process.exit(0);
}
const args = process.argv.slice(2);
const r = spawnSync(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...(args.length > 0 ? args : ['tests/integration', 'tests/browser'])], {
  stdio: 'inherit',
  env: { ...process.env, LOANET_TEST_DATABASE_URL: url },
});
process.exit(r.status ?? 1);
