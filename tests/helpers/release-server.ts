/**
 * A release made and signed in the test, and a plain node:http server that
 * serves it the way the server's release routes do (docs/protocol.md,
 * "update": GET /api/releases/{id}/manifest, …/signatures, …/files/{path}
 * with Range), with faults a test switches on: a socket cut after so many
 * bytes of a file, a status answered instead, a changed byte. It counts the
 * bytes it sent, for "nothing was fetched twice".
 */
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { keyIdOf, type ReleaseManifest, type TrustedKey } from '../../common/release.ts';

export interface SigningKey {
  keyId: string;
  privateKey: KeyObject;
  trusted: TrustedKey;
  publicPem: string;
}

export function makeSigningKey(): SigningKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const keyId = keyIdOf(publicKey);
  return { keyId, privateKey, trusted: { keyId, key: publicKey }, publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

export interface TestRelease {
  id: string;
  manifest: ReleaseManifest;
  manifestBytes: Buffer;
  manifestSha256: string;
  signatures: { keyId: string; sig: string }[];
  files: Map<string, Buffer>;
  total: number;
}

export function makeRelease(o: {
  id: string;
  version: string;
  files: Record<string, Buffer | string>;
  key: SigningKey;
  component?: ReleaseManifest['component'];
  arch?: 'arm64' | 'amd64' | 'armhf';
  extra?: Partial<ReleaseManifest>;
}): TestRelease {
  const files = new Map(Object.entries(o.files).map(([p, b]) => [p, Buffer.isBuffer(b) ? b : Buffer.from(b)]));
  const manifest: ReleaseManifest = {
    format: 1,
    component: o.component ?? 'agent',
    version: o.version,
    target: o.arch ? { arch: o.arch } : {},
    files: [...files].map(([path, b]) => ({ path, size: b.length, sha256: createHash('sha256').update(b).digest('hex') })),
    createdAt: new Date(0).toISOString(),
    ...o.extra,
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 2));
  return {
    id: o.id,
    manifest,
    manifestBytes,
    manifestSha256: createHash('sha256').update(manifestBytes).digest('hex'),
    signatures: [{ keyId: o.key.keyId, sig: sign(null, manifestBytes, o.key.privateKey).toString('base64') }],
    files,
    total: [...files.values()].reduce((n, b) => n + b.length, 0),
  };
}

export interface ReleaseServerFaults {
  /** Cut the socket after this many body bytes of a file response (once per entry in the list, in order). */
  cutAfter?: number[];
  /** Answer this status for files (and the manifest if `manifestToo`). */
  status?: number;
  /** How many requests get `status` (default all). */
  statusTimes?: number;
  /** Serve a file with one byte changed. */
  corrupt?: string;
  /** Send this many body bytes of `path`, then nothing more (the connection stays open: a stalled link), once. */
  stall?: { path: string; after: number };
}

export class ReleaseServer {
  readonly releases = new Map<string, TestRelease>();
  faults: ReleaseServerFaults = {};
  /** Body bytes sent per path, and the Range headers seen. */
  readonly sent = new Map<string, number>();
  readonly ranges: string[] = [];
  requests = 0;
  private server: http.Server | undefined;

  add(r: TestRelease): void {
    this.releases.set(r.id, r);
  }

  get totalSent(): number {
    return [...this.sent.values()].reduce((a, b) => a + b, 0);
  }

  async listen(): Promise<string> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    const m = /^\/api\/releases\/([a-z0-9-]+)\/(manifest|signatures|files\/(.+))$/.exec(req.url ?? '');
    const r = m ? this.releases.get(m[1]!) : undefined;
    if (!m || !r || !req.headers.authorization?.startsWith('Basic ')) {
      res.writeHead(404).end();
      return;
    }
    if (m[2] === 'manifest') return void res.writeHead(200, { 'content-type': 'application/json' }).end(r.manifestBytes);
    if (m[2] === 'signatures') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(r.signatures));
    const path = decodeURIComponent(m[3]!);
    let body = r.files.get(path);
    if (!body) return void res.writeHead(404).end();
    if (this.faults.status && (this.faults.statusTimes === undefined || this.faults.statusTimes-- > 0)) return void res.writeHead(this.faults.status).end();
    if (this.faults.corrupt === path) {
      body = Buffer.from(body);
      const i = body.length >> 1;
      body[i] = (body[i] ?? 0) ^ 0xff;
    }
    const range = req.headers.range;
    let start = 0;
    if (range) {
      this.ranges.push(range);
      const rm = /^bytes=(\d+)-$/.exec(range);
      start = rm ? Number(rm[1]) : 0;
      if (start >= body.length) return void res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
      res.writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start });
    } else res.writeHead(200, { 'content-length': body.length });
    const part = body.subarray(start);
    const stall = this.faults.stall;
    if (stall && stall.path === path) {
      this.faults.stall = undefined;
      const n = Math.min(stall.after, part.length);
      this.sent.set(path, (this.sent.get(path) ?? 0) + n);
      res.write(part.subarray(0, n));
      return;
    }
    const cut = this.faults.cutAfter?.shift();
    const n = cut === undefined ? part.length : Math.min(cut, part.length);
    this.sent.set(path, (this.sent.get(path) ?? 0) + n);
    if (cut === undefined) return void res.end(part);
    // Send `cut` bytes, then drop the connection as a 4G link does.
    res.write(part.subarray(0, n), () => setImmediate(() => res.socket?.destroy()));
  }
}
