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
import type { Statement } from 'better-sqlite3';
import { verifyReleaseSignature, type ReleaseManifest, type ReleaseSignature, type TrustedKey } from '../../common/release.ts';
import type { Db } from '../store/db.ts';
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

type Row = {
  id: string;
  component: ReleaseManifest['component'];
  version: string;
  manifest: Buffer;
  manifest_sha256: string;
  signatures: string;
  total_bytes: number;
  uploaded_by: number | null;
  username: string | null;
  created_at: number;
  complete_at: number | null;
  retired_at: number | null;
};
type FileRow = { path: string; size: number; sha256: string; received_at: number | null };

/** Rollouts that still send their release to sites: a release they use cannot be retired. */
const ACTIVE_ROLLOUT = ['running', 'paused'] as const;

export class ReleaseStore implements ReleaseLookup {
  readonly dir: string;
  readonly tmpDir: string;
  private readonly rowStmt: Statement<[string]>;
  private readonly listStmt: Statement<[number]>;
  private readonly filesStmt: Statement<[string]>;
  /** Parsed manifests and verdicts by manifest hash and key set: reading a release does not re-parse or re-verify it. */
  private readonly parsed = new Map<string, { manifest: ReleaseManifest; keys: string; keyId: string | null }>();

  constructor(
    private readonly db: Db,
    dataDir: string,
    /** The server's trust list as it is now (trust.ts). */
    readonly trusted: () => readonly TrustedKey[],
    private readonly now: () => number = Date.now,
  ) {
    this.dir = path.join(dataDir, 'releases');
    this.tmpDir = path.join(this.dir, '.tmp');
    const select = `SELECT r.*, u.username FROM releases r LEFT JOIN users u ON u.id = r.uploaded_by`;
    this.rowStmt = db.prepare(`${select} WHERE r.id = ?`);
    this.listStmt = db.prepare(`${select} WHERE (? = 1 OR r.retired_at IS NULL) ORDER BY r.created_at DESC, r.id`);
    this.filesStmt = db.prepare('SELECT path, size, sha256, received_at FROM release_files WHERE release_id = ? ORDER BY rowid');
  }

  /** Makes the folders, and removes what an upload cut by a crash left in the temporary one. */
  open(): void {
    fs.mkdirSync(this.tmpDir, { recursive: true, mode: 0o700 });
    for (const f of fs.readdirSync(this.tmpDir)) fs.rmSync(path.join(this.tmpDir, f), { force: true, recursive: true });
  }

  get(id: string): StoredRelease | undefined {
    const r = this.rowStmt.get(id) as Row | undefined;
    return r && this.toStored(r, this.trusted());
  }

  detail(id: string): ReleaseDetail | undefined {
    const r = this.rowStmt.get(id) as Row | undefined;
    return r && this.toDetail(r, this.trusted());
  }

  list(opts: { includeRetired?: boolean } = {}): ReleaseDetail[] {
    const keys = this.trusted();
    return (this.listStmt.all(opts.includeRetired ? 1 : 0) as Row[]).map((r) => this.toDetail(r, keys));
  }

  /** The id the manifest with this hash is stored under, if any. */
  idOfManifest(manifestSha256: string): string | undefined {
    return (this.db.prepare('SELECT id FROM releases WHERE manifest_sha256 = ?').get(manifestSha256) as { id: string } | undefined)?.id;
  }

  /** Stores a release whose signature the caller checked; its files are still to come. Throws ReleaseExists. */
  create(r: NewRelease): ReleaseDetail {
    const at = this.now();
    this.db.transaction(() => {
      const taken = this.rowStmt.get(r.id) as Row | undefined;
      if (taken) throw new ReleaseExists(r.id);
      const same = this.idOfManifest(r.manifestSha256);
      if (same) throw new ReleaseExists(same);
      this.db
        .prepare(
          `INSERT INTO releases (id, component, version, manifest, manifest_sha256, signatures, total_bytes, uploaded_by, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(r.id, r.manifest.component, r.manifest.version, r.manifestBytes, r.manifestSha256, JSON.stringify(r.signatures), r.totalBytes, r.uploadedBy?.id ?? null, at);
      const file = this.db.prepare('INSERT INTO release_files (release_id, path, size, sha256) VALUES (?, ?, ?, ?)');
      for (const f of r.manifest.files) file.run(r.id, f.path, f.size, f.sha256);
    })();
    return this.detail(r.id)!;
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
  receive(id: string, filePath: string, tmp: string): ReleaseDetail {
    // Retired while the file was on its way: its folder is gone and stays gone.
    if ((this.rowStmt.get(id) as Row | undefined)?.retired_at !== null) throw new ReleaseRetired(id);
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
    this.db.transaction(() => {
      this.db.prepare('UPDATE release_files SET received_at = ? WHERE release_id = ? AND path = ? AND received_at IS NULL').run(at, id, filePath);
      const missing = (this.db.prepare('SELECT COUNT(*) AS n FROM release_files WHERE release_id = ? AND received_at IS NULL').get(id) as { n: number }).n;
      if (missing === 0) this.db.prepare('UPDATE releases SET complete_at = ? WHERE id = ? AND complete_at IS NULL').run(at, id);
    })();
    return this.detail(id)!;
  }

  /** The rollouts (running or paused) that still send this release: it cannot be retired while there are any. */
  activeRollouts(id: string): string[] {
    const rows = this.db
      .prepare(`SELECT id FROM rollouts WHERE release_id = ? AND status IN (${ACTIVE_ROLLOUT.map(() => '?').join(', ')}) ORDER BY created_at`)
      .all(id, ...ACTIVE_ROLLOUT) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** Retires a release: sites can no longer fetch it, its files are deleted (the record and its manifest stay). */
  retire(id: string): ReleaseDetail {
    this.db.prepare('UPDATE releases SET retired_at = ? WHERE id = ? AND retired_at IS NULL').run(this.now(), id);
    fs.rmSync(path.join(this.dir, id), { recursive: true, force: true });
    return this.detail(id)!;
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

  private toDetail(r: Row, keys: readonly TrustedKey[]): ReleaseDetail {
    const s = this.toStored(r, keys);
    const files = (this.filesStmt.all(r.id) as FileRow[]).map((f) => ({ path: f.path, size: f.size, sha256: f.sha256, receivedAt: f.received_at }));
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
