/**
 * The built server (`npm run build`, scripts/build.ts), as `npm start` runs
 * it: `node dist/server/main.mjs`, no TypeScript loader. Built into a folder
 * of the test's own inside the project (the bundle keeps its packages in the
 * project's node_modules, as an installed server does) and started from
 * another working directory, it must find every file it loads by path
 * (server/files.ts): the console, the common-password list, the worker
 * entries and the off-thread task bundles — a large CAP document and a Word
 * document are each handled in a worker thread — and report the version
 * fixed into it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../scripts/build.ts';
import { LAO_CAI_2025, serverProcessEnv, tempDir, waitFor } from '../helpers/server.ts';
import { haveTools } from '../helpers/require-tool.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ADMIN_PASSWORD = 'built-server-admin-password';
const canRun = haveTools('ffmpeg', 'espeak-ng');

let buildDir: string;
let dataDir: string;
let child: ChildProcess | undefined;
let out = '';
let base: string;
let token: string;

async function api(method: string, url: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: any; type: string }> {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': contentType } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed, type: res.headers.get('content-type') ?? '' };
}

describe.skipIf(!canRun)('the built server', () => {
  beforeAll(async () => {
    buildDir = fs.mkdtempSync(path.join(ROOT, '.test-build-'));
    const built = await buildServer(path.join(buildDir, 'server'));
    dataDir = tempDir('loanet-built-server-');
    const env = serverProcessEnv(dataDir, { LOANET_ADMIN_PASSWORD: ADMIN_PASSWORD });
    // Another working directory: nothing may be found relative to where it was started.
    child = spawn(process.execPath, [built.file], { cwd: os.tmpdir(), env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => child!.once('exit', r));
    let gone = false;
    void exited.then(() => (gone = true));
    const m = await waitFor(
      'the built server listening',
      () => {
        if (gone) throw new Error(`the built server exited: ${out}`);
        return /console http:\/\/localhost:(\d+)\//.exec(out);
      },
      60_000,
    );
    base = `http://127.0.0.1:${m[1]}`;
    const login = await api('POST', '/api/auth/login', { username: 'admin', password: ADMIN_PASSWORD });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    token = login.body.token;
    const areas = await api('POST', '/api/areas/import?version=2025', fs.readFileSync(LAO_CAI_2025, 'utf8'), 'text/csv');
    expect(areas.status, JSON.stringify(areas.body)).toBe(200);
    const site = await api('POST', '/api/sites', { name: 'Cụm loa Bản Vược', kind: 'cluster', area: '02683' });
    expect(site.status, JSON.stringify(site.body)).toBe(201);
  }, 180_000);

  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    if (buildDir) fs.rmSync(buildDir, { recursive: true, force: true });
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('says the version fixed into it, and serves the console', async () => {
    const health = await api('GET', '/api/health');
    expect(health.body.versions.loanet).toBe(VERSION);
    const page = await api('GET', '/');
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.body).toContain('<html lang="vi">');
  });

  it('refuses a common password from its shipped list', async () => {
    const r = await api('POST', '/api/users', { username: 'op-batxat', password: 'password123', role: 'operator', area: '02683' });
    expect(r.status, JSON.stringify(r.body)).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/common/i);
  });

  // Without its task bundle the worker fails and the document is refused as unparseable (400), not started.
  it('parses a large CAP document in a worker thread from its task bundle', async () => {
    const now = Date.now();
    const t = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, '-00:00');
    // Over 64 KiB: parsed off the event loop (server/alerts/cap/limits.ts parsesInline).
    const padding = `<!-- ${'x'.repeat(80 * 1024)} -->`;
    const cap = `<?xml version="1.0" encoding="UTF-8"?>${padding}
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>built-1</identifier><sender>pctt@laocai.gov.vn</sender><sent>${t(now)}</sent>
<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
<info><language>vi-VN</language><category>Met</category><event>Lũ quét</event><urgency>Immediate</urgency><severity>Extreme</severity><certainty>Observed</certainty><expires>${t(now + 3600_000)}</expires>
<headline>Lũ quét tại xã Bát Xát</headline><area><areaDesc>Xã Bát Xát</areaDesc><geocode><valueName>VN-ADMIN</valueName><value>02683</value></geocode></area></info></alert>`;
    expect(cap.length).toBeGreaterThan(64 * 1024);
    const r = await api('POST', '/api/alerts/cap', cap, 'application/cap+xml');
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(r.body.alert).toMatchObject({ title: 'Lũ quét tại xã Bát Xát', priority: 'emergency' });
  });

  it('reads a Word document in a worker thread from its task bundle, and speaks it', async () => {
    const W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"';
    const xml = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${W}><w:body><w:p><w:r><w:t>Thông báo: mưa lớn, đề phòng lũ quét.</w:t></w:r></w:p></w:body></w:document>`;
    const docx = zipSync({
      '[Content_Types].xml': strToU8(
        '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
      ),
      'word/document.xml': strToU8(xml),
    });
    const fd = new FormData();
    fd.append('lang', 'vi');
    fd.append('file', new Blob([docx]), 'Thông báo.docx');
    const res = await fetch(`${base}/api/media/tts/docx`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: fd });
    const body = (await res.json()) as { transcript?: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.transcript).toBe('Thông báo: mưa lớn, đề phòng lũ quét.');
  }, 60_000);
});
