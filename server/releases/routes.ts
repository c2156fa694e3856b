/**
 * Signed releases over HTTP (docs/updates.md): technicians upload a
 * manifest with its signatures, then each file; everyone who reads the
 * network lists them; the agents fetch a complete release's manifest,
 * signatures and files with their own site credential (HTTP Range, so a
 * download cut on 4G resumes where it stopped).
 *
 * The server takes only a manifest signed by a key of its trust list, and
 * keeps a file only when its size and SHA-256 are the manifest's: what it
 * stores is what the key holders made. The boards check it all again.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { finished, Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { RELEASE_MAX_FILES } from '../../common/release.ts';
import {
  RELEASE_MANIFEST_B64_MAX,
  ReleaseCreateRequest,
  ReleaseFileParams,
  ReleaseList,
  ReleaseListQuery,
  ReleaseParams,
  ReleaseSignature,
  ReleaseView,
} from '../../api/releases.ts';
import type { ServerContext } from '../context.ts';
import { Errors, fail, LoanetError } from '../errors.ts';
import { requirePermission } from '../http/auth.ts';
import { parseRange } from '../media/range.ts';
import { acceptUpload } from './model.ts';
import { ReleaseExists, ReleaseRetired, type ReleaseDetail, type ReleaseStore } from './store.ts';

export type RouteDeps = Pick<ServerContext, 'audit' | 'disk'> & { releases: ReleaseStore };

const Binary = Type.Unsafe<unknown>({ type: 'string', format: 'binary' });
const FileParams = ReleaseFileParams;
const SignatureView = ReleaseSignature;
const MANIFEST_B64_MAX = RELEASE_MANIFEST_B64_MAX;

function view(r: ReleaseDetail): ReleaseView {
  const m = r.manifest;
  return {
    id: r.id,
    component: r.component,
    version: r.version,
    target: r.target,
    minFrom: m.minFrom ?? null,
    allowDowngrade: m.allowDowngrade === true,
    notes: m.notes ?? null,
    madeAt: m.createdAt,
    manifestSha256: r.manifestSha256,
    signedBy: r.signatures.map((s) => s.keyId),
    verifiedKeyId: r.verifiedKeyId,
    files: r.files.map((f) => ({ ...f, received: f.receivedAt !== null })),
    totalBytes: r.totalBytes,
    receivedBytes: r.files.reduce((n, f) => n + (f.receivedAt !== null ? f.size : 0), 0),
    uploadedBy: r.uploadedBy,
    createdAt: r.createdAt,
    complete: r.completeAt !== null,
    completeAt: r.completeAt,
    retired: r.retiredAt !== null,
    retiredAt: r.retiredAt,
  };
}

/** Counts and hashes what passes, and fails as soon as more than `max` bytes came (413: nothing is kept). */
function meter(max: number, filePath: string): Transform & { bytes: number; sha256: () => string } {
  const hash = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      m.bytes += chunk.length;
      if (m.bytes > max) return done(fail('LOANET_RELEASE_FILE_TOO_LARGE', { path: filePath, size: max }));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  const m = Object.assign(t, { bytes: 0, sha256: () => hash.digest('hex') });
  return m;
}

export const releaseRoutes =
  (ctx: RouteDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const store = ctx.releases;

    // A file's bytes reach the handler as the request stream: written to disk as they come, never held whole.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));

    /** The release as a site may see it: whole and not retired; anything else is not found, so a board gives up on it (a 4xx is final). */
    const forReader = async (req: FastifyRequest, id: string): Promise<ReleaseDetail> => {
      if (!req.site) requirePermission(req, 'read');
      const r = await store.detail(id);
      if (!r || (req.site && (r.completeAt === null || r.retiredAt !== null))) throw Errors.notFound('release', id);
      return r;
    };

    app.get(
      '/api/releases',
      {
        schema: {
          tags: ['releases'],
          operationId: 'listReleases',
          summary: 'Signed releases, newest first: files received or not, which trusted key verified each, complete, retired',
          querystring: ReleaseListQuery,
          response: { 200: ReleaseList },
        },
      },
      async (req) => {
        requirePermission(req, 'read');
        return { releases: (await store.list({ includeRetired: req.query.includeRetired === true })).map(view), trustedKeys: store.trusted().map((k) => k.keyId) };
      },
    );

    app.get(
      '/api/releases/:id',
      { schema: { tags: ['releases'], operationId: 'getRelease', summary: 'One release', params: ReleaseParams, response: { 200: ReleaseView } } },
      async (req) => {
        requirePermission(req, 'read');
        const r = await store.detail(req.params.id);
        if (!r) throw Errors.notFound('release', req.params.id);
        return view(r);
      },
    );

    app.post(
      '/api/releases',
      {
        schema: {
          tags: ['releases'],
          operationId: 'createRelease',
          summary: "Store a signed release's manifest and signatures; its files follow (PUT /api/releases/{id}/files/{path})",
          description:
            "Refused (422 LOANET_RELEASE_REFUSED, naming why: unsigned, unknown_key, bad_signature, malformed) unless a key of the server's trust list (LOANET_RELEASE_KEYS) signed the manifest's exact bytes. The id is made of component, version and target (agent-1-3-0-arm64); 409 when that id or the same manifest is stored.",
          body: ReleaseCreateRequest,
          response: { 201: ReleaseView },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'release.write');
        const bytes = Buffer.from(req.body.manifest, 'base64');
        const v = acceptUpload(bytes, req.body.signatures, store.trusted());
        if (!v.ok) throw fail('LOANET_RELEASE_REFUSED', { field: v.code === 'malformed' ? 'manifest' : 'signatures', reason: v.code, text: v.reason });
        let r: ReleaseDetail;
        try {
          r = await store.create({
            id: v.id,
            manifest: v.manifest,
            manifestBytes: bytes,
            manifestSha256: v.manifestSha256,
            // Only the well-formed ones are kept: what a board is sent is what verifies.
            signatures: req.body.signatures.filter((s) => /^[0-9a-f]{16}$/.test(s.keyId) && s.sig.length >= 86 && s.sig.length <= 88),
            totalBytes: v.totalBytes,
            uploadedBy: p.user,
          });
        } catch (e) {
          if (e instanceof ReleaseExists) throw fail('LOANET_RELEASE_EXISTS', { id: e.id });
          throw e;
        }
        await ctx.audit.record(p.user, 'release.create', r.id, {
          component: r.component,
          version: r.version,
          manifestSha256: r.manifestSha256,
          verifiedKeyId: v.keyId,
          files: r.files.length,
          totalBytes: r.totalBytes,
        });
        return reply.status(201).header('location', `/api/releases/${r.id}`).send(view(r));
      },
    );

    app.put(
      '/api/releases/:id/files/:path',
      {
        schema: {
          tags: ['releases'],
          operationId: 'uploadReleaseFile',
          summary: "Upload one file of a release (raw bytes, application/octet-stream); kept only when its size and SHA-256 are the manifest's",
          description:
            '201 when stored (the release is complete once every file is), 200 when it was already (nothing written); 413 as soon as more bytes come than the manifest says, 422 on a size or SHA-256 mismatch (nothing kept), 507 when the disk is low.',
          params: FileParams,
          consumes: ['application/octet-stream'],
          response: { 200: ReleaseView, 201: ReleaseView },
        },
      },
      async (req, reply) => {
        const p = requirePermission(req, 'release.write');
        // No body at all (Fastify parses none): an empty file, which only a file of 0 bytes matches.
        const body = (req.body ?? Readable.from([])) as Readable;
        // Whatever is answered before the body was read, the rest of it is read and dropped, so the connection stays usable.
        const drop = () => body.resume();
        const filePath = req.params.path;
        const r = await store.detail(req.params.id);
        if (!r) throw (drop(), Errors.notFound('release', req.params.id));
        if (r.retiredAt !== null) throw (drop(), fail('LOANET_RETIRED', { thing: 'release', id: r.id }));
        const entry = r.files.find((f) => f.path === filePath);
        if (!entry) throw (drop(), Errors.notFound('file', filePath, r.id));
        if (entry.receivedAt !== null) {
          drop();
          return reply.status(200).send(view(r));
        }
        if (typeof body.pipe !== 'function') throw fail('LOANET_UNSUPPORTED_MEDIA_TYPE', { expected: ['application/octet-stream (the file as it is)'] });
        const declared = Number(req.headers['content-length']);
        if (Number.isFinite(declared) && declared > entry.size) throw (drop(), fail('LOANET_RELEASE_FILE_TOO_LARGE', { path: entry.path, size: entry.size }));
        // Release files are large writes: paused with the media uploads when the disk runs low.
        try {
          ctx.disk.admit('media');
          // A file that would itself bring the disk under the low level is refused before a byte of it is written.
          const d = ctx.disk.status();
          if (d.freeBytes - entry.size < d.lowBytes) {
            const mb = (n: number) => `${Math.floor(n / (1024 * 1024))} MB`;
            throw Errors.diskLow(
              `refused: ${entry.path} (${mb(entry.size)}) would leave under the ${mb(d.lowBytes)} kept free on the disk of the data folder (LOANET_DATA_DIR, ${mb(d.freeBytes)} free) for logins, alerts and receipts (LOANET_DISK_LOW_MB); free space on that disk and try again`,
              d.state,
              d.freeBytes,
            );
          }
        } catch (e) {
          drop();
          throw e;
        }
        const tmp = store.tempPath();
        const m = meter(entry.size, entry.path);
        // The request is piped, not put in the pipeline: a refusal (too large) must not destroy it, or the
        // socket goes before the 413 is read. A request cut by the client ends the write with its error.
        const unwatch = finished(body, (err) => {
          if (err) m.destroy(err);
        });
        body.pipe(m);
        try {
          try {
            await pipeline(m, fs.createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
          } finally {
            unwatch();
            body.unpipe(m);
          }
          const got = { size: m.bytes, sha256: m.sha256() };
          if (got.size !== entry.size || got.sha256 !== entry.sha256) {
            throw fail('LOANET_RELEASE_FILE_MISMATCH', { path: entry.path, size: entry.size, sha256: entry.sha256, gotSize: got.size, gotSha256: got.sha256 });
          }
          const after = await store.receive(r.id, entry.path, tmp);
          await ctx.audit.record(p.user, 'release.file', r.id, { path: entry.path, size: entry.size, complete: after.completeAt !== null });
          return reply.status(201).send(view(after));
        } catch (e) {
          fs.rmSync(tmp, { force: true });
          // The rest of a body refused midway is not wanted: the answer closes the connection once sent.
          if (e instanceof LoanetError && e.code === 'LOANET_RELEASE_FILE_TOO_LARGE') reply.header('connection', 'close');
          drop();
          if (e instanceof ReleaseRetired) throw fail('LOANET_RETIRED', { thing: 'release', id: e.id });
          throw e;
        }
      },
    );

    app.post(
      '/api/releases/:id/retire',
      {
        schema: {
          tags: ['releases'],
          operationId: 'retireRelease',
          summary: 'Retire a release: sites can no longer fetch it and its files are deleted (the record stays); refused while a running or paused rollout uses it',
          params: ReleaseParams,
          response: { 200: ReleaseView },
        },
      },
      async (req) => {
        const p = requirePermission(req, 'release.write');
        const r = await store.detail(req.params.id);
        if (!r) throw Errors.notFound('release', req.params.id);
        if (r.retiredAt !== null) return view(r);
        const rollouts = await store.activeRollouts(r.id);
        if (rollouts.length > 0) throw fail('LOANET_RELEASE_IN_USE', { id: r.id, rollouts });
        const after = await store.retire(r.id);
        await ctx.audit.record(p.user, 'release.retire', r.id, { version: r.version, component: r.component });
        return view(after);
      },
    );

    const siteDoc =
      'Users with a bearer token, and sites with their own credential (HTTP Basic siteId:secret); a site sees only complete releases that are not retired (404 otherwise).';

    app.get(
      '/api/releases/:id/manifest',
      {
        schema: {
          tags: ['releases'],
          operationId: 'getReleaseManifest',
          summary: "The manifest's exact bytes (what the signatures cover); ETag is their SHA-256",
          description: siteDoc,
          params: ReleaseParams,
          response: { 200: { description: 'the signed manifest, byte for byte', content: { 'application/json': { schema: Binary } } } },
        },
        config: { siteAccess: true },
      },
      async (req, reply) => {
        const r = await forReader(req, req.params.id);
        return reply
          .header('content-type', 'application/json')
          .header('etag', `"${r.manifestSha256}"`)
          .header('x-content-sha256', r.manifestSha256)
          .header('cache-control', 'private, no-cache')
          .send(r.manifestBytes);
      },
    );

    app.get(
      '/api/releases/:id/signatures',
      {
        schema: {
          tags: ['releases'],
          operationId: 'getReleaseSignatures',
          summary: "The manifest's signatures, as the release tool wrote them: the board checks them against its own trusted keys",
          description: siteDoc,
          params: ReleaseParams,
          response: { 200: Type.Array(SignatureView, { maxItems: 16 }) },
        },
        config: { siteAccess: true },
      },
      async (req) => (await forReader(req, req.params.id)).signatures,
    );

    app.get(
      '/api/releases/:id/files/:path',
      {
        schema: {
          tags: ['releases'],
          operationId: 'getReleaseFile',
          summary: 'A file of a release; supports Range (206, 416) and If-Range (ETag: its SHA-256) for resumed downloads',
          description: siteDoc,
          params: FileParams,
          response: {
            200: { description: 'the whole file', content: { 'application/octet-stream': { schema: Binary } } },
            206: { description: 'the range asked for (Content-Range)', content: { 'application/octet-stream': { schema: Binary } } },
          },
        },
        config: { siteAccess: true },
      },
      async (req, reply) => serveFile(req, reply, await forReader(req, req.params.id), req.params.path, store),
    );
  };

async function serveFile(req: FastifyRequest, reply: FastifyReply, r: ReleaseDetail, filePath: string, store: ReleaseStore): Promise<FastifyReply> {
  const entry = r.files.find((f) => f.path === filePath);
  if (!entry || entry.receivedAt === null || r.retiredAt !== null) throw Errors.notFound('file', filePath, r.id);
  const file = store.filePath(r.id, entry.path);
  let size: number;
  try {
    size = fs.statSync(file).size;
  } catch {
    throw Errors.notFound('file', filePath, r.id);
  }
  const etag = `"${entry.sha256}"`;
  reply.header('accept-ranges', 'bytes').header('etag', etag);
  const ifRange = req.headers['if-range'];
  const range = ifRange !== undefined && ifRange !== etag ? { kind: 'whole' as const } : parseRange(req.headers.range, size);
  if (range.kind === 'unsatisfiable') {
    reply.header('content-range', `bytes */${size}`);
    throw fail('LOANET_RANGE_NOT_SATISFIABLE', { size });
  }
  reply.header('content-type', 'application/octet-stream').header('cache-control', 'private, max-age=86400').header('x-content-sha256', entry.sha256);
  if (range.kind === 'partial') {
    reply
      .status(206)
      .header('content-range', `bytes ${range.start}-${range.end}/${size}`)
      .header('content-length', range.end - range.start + 1);
    return reply.send(fs.createReadStream(file, { start: range.start, end: range.end }));
  }
  reply.header('content-length', size);
  return reply.send(fs.createReadStream(file));
}

/** Bounds of what the routes take, for the docs and tests. */
export const RELEASE_ROUTE_LIMITS = { manifestBase64: MANIFEST_B64_MAX, maxFiles: RELEASE_MAX_FILES } as const;
