/**
 * The API description at /docs/json is a contract others build on: every
 * operation names itself (operationId), says what it answers for success and
 * for errors, and the whole document lints clean with a standard OpenAPI
 * linter (Redocly CLI, rules in redocly.yaml).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, type TestServer } from '../helpers/server.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

interface Operation {
  operationId?: string;
  tags?: string[];
  responses?: Record<string, unknown>;
}
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>> };

let t: TestServer;
let doc: OpenApi;
beforeAll(async () => {
  t = await startTestServer();
  const r = await t.api<OpenApi>('GET', '/docs/json', undefined, { token: null });
  expect(r.status).toBe(200);
  doc = r.body;
});
afterAll(() => t?.stop());

/**
 * Operations whose success answer is not described yet (their route files are
 * still to be moved onto api/): this list only shrinks, and an operation that
 * gets its schema must leave it (the test says so).
 */
const NOT_YET_DESCRIBED = new Set<string>([]);

const operations = () =>
  Object.entries(doc.paths).flatMap(([p, methods]) =>
    Object.entries(methods)
      .filter(([m]) => ['get', 'put', 'post', 'patch', 'delete'].includes(m))
      .map(([m, op]) => ({ name: `${m.toUpperCase()} ${p}`, op })),
  );

describe('OpenAPI document', () => {
  it('names every operation once and gives it a tag', () => {
    const missing = operations()
      .filter(({ op }) => !op.operationId || !op.tags?.length)
      .map((o) => o.name);
    expect(missing).toEqual([]);
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids.length).toBe(new Set(ids).size);
  });

  it('describes a success and the error answers of every operation', () => {
    // A success with a body to describe has content; a WebSocket upgrade (101) or an empty 204 has none.
    const described = ({ op }: { op: Operation }) =>
      Object.entries(op.responses ?? {}).some(([s, r]) => s === '101' || s === '204' || (/^2(\d\d|XX)$/.test(s) && typeof r === 'object' && r !== null && 'content' in r));
    const noSuccess = operations()
      .filter((o) => !described(o))
      .map((o) => o.name);
    expect(noSuccess.filter((n) => !NOT_YET_DESCRIBED.has(n))).toEqual([]);
    expect([...NOT_YET_DESCRIBED].filter((n) => !noSuccess.includes(n))).toEqual([]);
    const noErrors = operations()
      .filter(({ op }) => !Object.keys(op.responses ?? {}).some((s) => /^4(\d\d|XX)$/.test(s)))
      .map((o) => o.name);
    expect(noErrors).toEqual([]);
  });

  it('lints with 0 errors (redocly lint, redocly.yaml)', async () => {
    const dir = tempDir('loanet-openapi-');
    const file = path.join(dir, 'openapi.json');
    fs.writeFileSync(file, JSON.stringify(doc, null, 2));
    const out = await run('npx', ['redocly', 'lint', file, '--config', path.join(ROOT, 'redocly.yaml'), '--format', 'json'], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }).catch(
      (e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
    );
    const report = JSON.parse(out.stdout) as {
      totals: { errors: number };
      problems: Array<{ ruleId: string; severity: string; message: string; location: Array<{ pointer: string }> }>;
    };
    const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    expect(errors).toEqual([]);
    expect(report.totals.errors).toBe(0);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
