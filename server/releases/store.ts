/**
 * Signed releases as the server keeps them (tables `releases` and
 * `release_files`, migration 20): the manifest's exact bytes and its
 * signatures in the database, each file in the data folder under
 * `releases/{id}/{path}`, written whole or not at all (a temporary file in
 * `releases/.tmp/`, renamed into place once its size and SHA-256 are the
 * manifest's). A release is complete when every file has arrived.
 *
 * Which trusted key verified a release is not stored: it is checked again
 * against the trust list as it is now (trust.ts), so a key taken out of the
 * list stops vouching for what it signed.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Kysely, Selectable } from 'kysely';
import { verifyReleaseSignature, type ReleaseManifest, type ReleaseSignature, type TrustedKey } from '../../common/release.ts';
import type { Database, ReleaseFilesTable, ReleasesTable } from '../store/schema.ts';
import type { ReleaseLookup, StoredRelease } from './model.ts';

export interface ReleaseFileState {
  path: string;
  size: number;
  sha256: string;
  receivedAt: number | null;
}

/** A release with its files and who uploaded it: what the API shows. */
export interface ReleaseDetail extends StoredRelease {
  target: ReleaseManifest['target'];
  files: ReleaseFileState[];
  uploadedBy: { id: number; username: string } | null;
}

export interface NewRelease {
  id: string;
  manifest: ReleaseManifest;
  manifestBytes: Buffer;
  manifestSha256: string;
  signatures: ReleaseSignature[];
  totalBytes: number;
  uploadedBy: { id: number } | null;
}

/** Why a release cannot be created: its id or its manifest is already stored. */
export class ReleaseExists extends Error {
  constructor(readonly id: string) {
    super(`release ${id} exists`);
  }
}

/** Why a file cannot be stored: its release was retired meanwhile. */
export class ReleaseRetired extends Error {
  constructor(readonly id: string) {
    super(`release ${id} is retired`);
  }
}

type Row = Selectable<ReleasesTable> & { username: string | null };
type FileRow = Pick<Selectable<ReleaseFilesTable>, 'path' | 'size' | 'sha256' | 'received_at'>;

/** Rollouts that still send their release to sites: a release they use cannot be retired. */
const ACTIVE_ROLLOUT = ['running', 'paused'] as const;

export class ReleaseStore implements ReleaseLookup {
  readonly dir: string;
  readonly tmpDir: string;
  /** Parsed manifests and verdicts by manifest hash and key set: reading a release does not re-parse or re-verify it. */
  private readonly parsed = new Map<string, { manifest: ReleaseManifest; keys: string; keyId: string | null }>();

  constructor(
    private readonly db: Kysely<Database>,
    dataDir: string,
    /** The server's trust list as it is now (trust.ts). */
    readonly trusted: () => readonly TrustedKey[],
    private readonly now: () => number = Date.now,
  ) {
    this.dir = path.join(dataDir, 'releases');
    this.tmpDir = path.join(this.dir, '.tmp');
  }

  /** Makes the folders, and removes what an upload cut by a crash left in the temporary one. */
  open(): void {
    fs.mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(this.tmpDir)) fs.rmSync(path.join(this.tmpDir, f), { force: true, recursive: true });
  }

  private rows() {
    return this.db.selectFrom('releases as r').leftJoin('users as u', 'u.id', 'r.uploaded_by').selectAll('r').select('u.username');
  }

  private row(id: string): Promise<Row | undefined> {
    return this.rows().where('r.id', '=', id).executeTakeFirst();
  }

  async get(id: string): Promise<StoredRelease | undefined> {
    const r = await this.row(id);
    return r && this.toStored(r, this.trusted());
  }

  async detail(id: string): Promise<ReleaseDetail | undefined> {
    const r = await this.row(id);
    return r && this.toDetail(r, this.trusted());
  }

  async list(opts: { includeRetired?: boolean } = {}): Promise<ReleaseDetail[]> {
    const keys = this.trusted();
    let q = this.rows();
    if (!opts.includeRetired) q = q.where('r.retired_at', 'is', null);
    const out: ReleaseDetail[] = [];
    for (const r of await q.orderBy('r.created_at', 'desc').orderBy('r.id').execute()) out.push(await this.toDetail(r, keys));
    return out;
  }

  /** The id the manifest with this hash is stored under, if any. */
  async idOfManifest(manifestSha256: string): Promise<string | undefined> {
    return (await this.db.selectFrom('releases').select('id').where('manifest_sha256', '=', manifestSha256).executeTakeFirst())?.id;
  }

  /** Stores a release whose signature the caller checked; its files are still to come. Throws ReleaseExists. */
  async create(r: NewRelease): Promise<ReleaseDetail> {
    const at = this.now();
    const inserted = await this.db.transaction().execute(async (trx) => {
      // ON CONFLICT DO NOTHING with no target covers both unique keys (the id, the manifest's hash): two uploads of
      // the same release at once (two requests, or two servers) store it once, and the other is told it exists,
      // never a constraint error.
      const row = await trx
        .insertInto('releases')
        .values({
          id: r.id,
          component: r.manifest.component,
          version: r.manifest.version,
          manifest: r.manifestBytes,
          manifest_sha256: r.manifestSha256,
          signatures: JSON.stringify(r.signatures),
          total_bytes: r.totalBytes,
          uploaded_by: r.uploadedBy?.id ?? null,
          created_at: at,
        })
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst();
      if (!row) return false;
      if (r.manifest.files.length > 0) {
        await trx
          .insertInto('release_files')
          .values(r.manifest.files.map((f) => ({ release_id: r.id, path: f.path, size: f.size, sha256: f.sha256 })))
          .execute();
      }
      return true;
    });
    if (!inserted) {
      if (await this.row(r.id)) throw new ReleaseExists(r.id);
      throw new ReleaseExists((await this.idOfManifest(r.manifestSha256)) ?? r.id);
    }
    return (await this.detail(r.id))!;
  }

  /** Where a file of a release lives once received (its path, a plain name, was checked when the release was stored: model.ts fileListProblem). */
  filePath(id: string, filePath: string): string {
    return path.join(this.dir, id, filePath);
  }

  /** A fresh temporary file name for an upload, in the data folder (so the rename into place is atomic). */
  tempPath(): string {
    return path.join(this.tmpDir, `${randomBytes(9).toString('base64url')}.part`);
  }

  /**
   * Moves a checked upload into place (durably: the file and its folder
   * synced) and records it; the release is complete when it was the last.
   * Returns the release as it now stands.
   */
  async receive(id: string, filePath: string, tmp: string): Promise<ReleaseDetail> {
    // Retired while the file was on its way: its folder is gone and stays gone.
    if ((await this.row(id))?.retired_at !== null) throw new ReleaseRetired(id);
    const final = this.filePath(id, filePath);
    fs.mkdirSync(path.dirname(final), { recursive: true, mode: 0o700 });
    const fd = fs.openSync(tmp, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, final);
    syncDir(path.dirname(final));
    const at = this.now();
    const retired = await this.db.transaction().execute(async (trx) => {
      // Checked again with the write: a retirement committed since the check above (this server or another)
      // removed the folder before this file landed in it, so the file goes too instead of outliving its release.
      const rel = await trx.selectFrom('releases').select('retired_at').where('id', '=', id).executeTakeFirst();
      if (rel?.retired_at !== null) return true;
      await trx.updateTable('release_files').set({ received_at: at }).where('release_id', '=', id).where('path', '=', filePath).where('received_at', 'is', null).execute();
      const missing = await trx
        .selectFrom('release_files')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('release_id', '=', id)
        .where('received_at', 'is', null)
        .executeTakeFirstOrThrow();
      if (Number(missing.n) === 0) await trx.updateTable('releases').set({ complete_at: at }).where('id', '=', id).where('complete_at', 'is', null).execute();
      return false;
    });
    if (retired) {
      fs.rmSync(path.join(this.dir, id), { recursive: true, force: true });
      throw new ReleaseRetired(id);
    }
    return (await this.detail(id))!;
  }

  /** The rollouts (running or paused) that still send this release: it cannot be retired while there are any. */
  async activeRollouts(id: string): Promise<string[]> {
    const rows = await this.db.selectFrom('rollouts').select('id').where('release_id', '=', id).where('status', 'in', ACTIVE_ROLLOUT).orderBy('created_at').execute();
    return rows.map((r) => r.id);
  }

  /** Retires a release: sites can no longer fetch it, its files are deleted (the record and its manifest stay). */
  async retire(id: string): Promise<ReleaseDetail> {
    await this.db.updateTable('releases').set({ retired_at: this.now() }).where('id', '=', id).where('retired_at', 'is', null).execute();
    fs.rmSync(path.join(this.dir, id), { recursive: true, force: true });
    return (await this.detail(id))!;
  }

  private verdict(r: Row, keys: readonly TrustedKey[]): { manifest: ReleaseManifest; keyId: string | null } {
    const keySet = keys.map((k) => k.keyId).join(',');
    const known = this.parsed.get(r.manifest_sha256);
    if (known && known.keys === keySet) return known;
    const sigs = JSON.parse(r.signatures) as ReleaseSignature[];
    const v = verifyReleaseSignature(r.manifest, sigs, keys);
    // Stored because it verified when uploaded: parsed even when no key vouches for it now.
    const manifest = v.ok ? v.manifest : (JSON.parse(r.manifest.toString('utf8')) as ReleaseManifest);
    const entry = { manifest, keys: keySet, keyId: v.ok ? v.keyId : null };
    this.parsed.set(r.manifest_sha256, entry);
    return entry;
  }

  private toStored(r: Row, keys: readonly TrustedKey[]): StoredRelease {
    const v = this.verdict(r, keys);
    return {
      id: r.id,
      component: r.component,
      version: r.version,
      manifest: v.manifest,
      manifestBytes: r.manifest,
      manifestSha256: r.manifest_sha256,
      signatures: JSON.parse(r.signatures) as ReleaseSignature[],
      verifiedKeyId: v.keyId,
      totalBytes: r.total_bytes,
      createdAt: r.created_at,
      completeAt: r.complete_at,
      retiredAt: r.retired_at,
    };
  }

  private async toDetail(r: Row, keys: readonly TrustedKey[]): Promise<ReleaseDetail> {
    const s = this.toStored(r, keys);
    const rows: FileRow[] = await this.db.selectFrom('release_files').select(['path', 'size', 'sha256', 'received_at']).where('release_id', '=', r.id).execute();
    // In the manifest's order (the order they were stored in; PostgreSQL has no rowid to say it).
    const order = new Map(s.manifest.files.map((f, i) => [f.path, i]));
    rows.sort((a, b) => (order.get(a.path) ?? Number.MAX_SAFE_INTEGER) - (order.get(b.path) ?? Number.MAX_SAFE_INTEGER) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    const files = rows.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, receivedAt: f.received_at }));
    return { ...s, target: s.manifest.target, files, uploadedBy: r.uploaded_by === null ? null : { id: r.uploaded_by, username: r.username ?? '' } };
  }
}

/** A rename is durable once its folder is synced (not every file system needs it; none is harmed). */
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some platforms cannot open a folder for sync; the rename itself stands.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
