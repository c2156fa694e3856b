/**
 * What the rest of the server knows of a stored release (the releases
 * feature owns the store: server/releases/). The rollouts ask it which
 * release to send and whether it is whole; the agents fetch its bytes over
 * the releases routes.
 */
import { createHash } from 'node:crypto';
import { verifyReleaseSignature, type ReleaseManifest, type ReleaseSignature, type SignatureRefusal, type TrustedKey } from '../../common/release.ts';

export interface StoredRelease {
  id: string;
  component: ReleaseManifest['component'];
  version: string;
  /** The parsed manifest (its exact bytes are `manifestBytes`: what the signatures cover). */
  manifest: ReleaseManifest;
  manifestBytes: Buffer;
  manifestSha256: string;
  signatures: ReleaseSignature[];
  /** The trusted key (of the server's list) whose signature verified, or null: unsigned by any key this server knows. */
  verifiedKeyId: string | null;
  totalBytes: number;
  createdAt: number;
  /** When every file had arrived and matched; null while some are missing. A rollout needs a complete release. */
  completeAt: number | null;
  retiredAt: number | null;
}

/** The releases feature's port for the rollouts. */
export interface ReleaseLookup {
  get(id: string): Promise<StoredRelease | undefined>;
}

/** Most ids in the URL and file-name alphabet of protocol/update.ts (UPDATE_ID_PATTERN): 63 characters. */
const ID_MAX = 63;

/**
 * A release's id from what it is: component, version and target, lower
 * case, e.g. `agent-1-3-0-arm64`, `device-firmware-2-1-0-amp-ctrl-v2`. A
 * person reads it in the console and in a rollout; the same release
 * uploaded twice gets the same id (and is refused). Too long, it is cut and
 * ends with the manifest's hash, so it stays unique.
 */
export function releaseIdOf(m: Pick<ReleaseManifest, 'component' | 'version' | 'target'>, manifestSha256: string): string {
  const target = [m.target.arch, m.target.hardware, ...(m.target.profiles ?? [])].filter((x): x is string => !!x);
  const id = [m.component, m.version, ...target]
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return id.length <= ID_MAX ? id : `${id.slice(0, ID_MAX - 9).replace(/-+$/, '')}-${manifestSha256.slice(0, 8)}`;
}

/**
 * What the server refuses in a manifest's file list beyond its schema: a
 * release's files are flat names (as the release tool makes them), each
 * once, so each is one file in the release's folder and one URL
 * (`/api/releases/{id}/files/{path}`); two names differing only in case are
 * refused too, since some file systems merge them. Null when the list is good.
 */
export function fileListProblem(files: readonly { path: string }[]): string | null {
  const seen = new Set<string>();
  for (const f of files) {
    if (f.path.includes('/')) return `file path "${f.path}" is in a folder; a release's files are plain names (the release tool writes them so)`;
    if (f.path === '.' || f.path === '..') return `file path "${f.path}" is not a file name`;
    const key = f.path.toLowerCase();
    if (seen.has(key)) return `file path "${f.path}" is listed twice`;
    seen.add(key);
  }
  return null;
}

export type UploadVerdict =
  | { ok: true; id: string; manifest: ReleaseManifest; manifestSha256: string; keyId: string; totalBytes: number }
  | { ok: false; code: SignatureRefusal; reason: string };

/**
 * Whether the server takes an uploaded release: signed by a key it trusts
 * and well-formed (the board's first check, common/release.ts), and a file
 * list it can store. The server has no installed version to compare with:
 * whether a board may take it is the board's own check.
 */
export function acceptUpload(manifestBytes: Uint8Array, signatures: readonly unknown[], trusted: readonly TrustedKey[]): UploadVerdict {
  if (trusted.length === 0 && signatures.length > 0) {
    return { ok: false, code: 'unknown_key', reason: 'this server trusts no release key yet: put the public keys (*.pem) in its release keys folder (LOANET_RELEASE_KEYS)' };
  }
  const v = verifyReleaseSignature(manifestBytes, signatures, trusted);
  if (!v.ok) return v;
  const problem = fileListProblem(v.manifest.files);
  if (problem) return { ok: false, code: 'malformed', reason: problem };
  const manifestSha256 = createHash('sha256').update(manifestBytes).digest('hex');
  const totalBytes = v.manifest.files.reduce((n, f) => n + f.size, 0);
  return { ok: true, id: releaseIdOf(v.manifest, manifestSha256), manifest: v.manifest, manifestSha256, keyId: v.keyId, totalBytes };
}
