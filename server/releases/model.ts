/**
 * What the rest of the server knows of a stored release (the releases
 * feature owns the store: server/releases/). The rollouts ask it which
 * release to send and whether it is whole; the agents fetch its bytes over
 * the releases routes.
 */
import type { ReleaseManifest, ReleaseSignature } from '../../common/release.ts';

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
  get(id: string): StoredRelease | undefined;
}
