/**
 * Signed releases over HTTP (server/releases/routes.ts): what a technician
 * uploads (a manifest's exact bytes and its signatures, then each file) and
 * how a release is shown (files received, which trusted key verified it,
 * complete, retired). The console's release pages import these types.
 */
import { Type, type Static } from '@sinclair/typebox';
import { RELEASE_MANIFEST_MAX_BYTES } from '../common/release.ts';
import { UPDATE_ID_PATTERN } from '../protocol/update.ts';

export const ReleaseParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
export const ReleaseFileParams = Type.Object({
  id: Type.String({ maxLength: 64 }),
  path: Type.String({ minLength: 1, maxLength: 200, description: "the file's path (name) in the manifest" }),
});

export const ReleaseFileView = Type.Object(
  {
    path: Type.String(),
    size: Type.Integer(),
    sha256: Type.String(),
    received: Type.Boolean({ description: 'the file arrived whole and matched its size and SHA-256' }),
    receivedAt: Type.Union([Type.Integer(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type ReleaseFileView = Static<typeof ReleaseFileView>;

export const ReleaseView = Type.Object(
  {
    id: Type.String({ pattern: UPDATE_ID_PATTERN }),
    component: Type.Union([Type.Literal('agent'), Type.Literal('device-firmware')]),
    version: Type.String(),
    target: Type.Object({
      arch: Type.Optional(Type.String()),
      hardware: Type.Optional(Type.String()),
      profiles: Type.Optional(Type.Array(Type.String())),
    }),
    minFrom: Type.Union([Type.String(), Type.Null()], { description: 'the oldest version it may replace; null: any' }),
    allowDowngrade: Type.Boolean(),
    notes: Type.Union([Type.String(), Type.Null()]),
    madeAt: Type.String({ description: "the manifest's createdAt: when it was made, by the release tool" }),
    manifestSha256: Type.String({ description: "SHA-256 of the manifest's exact bytes (what the signatures cover, and what an update order names)" }),
    signedBy: Type.Array(Type.String(), { description: 'the key ids of its signatures' }),
    verifiedKeyId: Type.Union([Type.String(), Type.Null()], {
      description: "the key of the server's trust list whose signature verified (checked against the list as it is now); null: no key the server trusts now",
    }),
    files: Type.Array(ReleaseFileView),
    totalBytes: Type.Integer(),
    receivedBytes: Type.Integer(),
    uploadedBy: Type.Union([Type.Object({ id: Type.Integer(), username: Type.String() }), Type.Null()]),
    createdAt: Type.Integer(),
    complete: Type.Boolean({ description: 'every file has arrived: only a complete release can be rolled out and fetched by sites' }),
    completeAt: Type.Union([Type.Integer(), Type.Null()]),
    retired: Type.Boolean(),
    retiredAt: Type.Union([Type.Integer(), Type.Null()]),
  },
  { additionalProperties: false },
);
export type ReleaseView = Static<typeof ReleaseView>;

export const ReleaseListQuery = Type.Object({ includeRetired: Type.Optional(Type.Boolean()) });
export const ReleaseList = Type.Object({
  releases: Type.Array(ReleaseView),
  trustedKeys: Type.Array(Type.String(), { description: "the key ids of the server's trust list" }),
});
export type ReleaseList = Static<typeof ReleaseList>;

export const ReleaseSignature = Type.Object({ keyId: Type.String(), sig: Type.String() }, { additionalProperties: false });
export type ReleaseSignature = Static<typeof ReleaseSignature>;

/** base64 of at most RELEASE_MANIFEST_MAX_BYTES. */
export const RELEASE_MANIFEST_B64_MAX = 4 * Math.ceil(RELEASE_MANIFEST_MAX_BYTES / 3);

export const ReleaseCreateRequest = Type.Object(
  {
    manifest: Type.String({ minLength: 1, maxLength: RELEASE_MANIFEST_B64_MAX, pattern: '^[A-Za-z0-9+/]+={0,2}$', description: "base64 of the manifest file's exact bytes" }),
    signatures: Type.Array(Type.Object({ keyId: Type.String({ maxLength: 64 }), sig: Type.String({ maxLength: 200 }) }, { additionalProperties: false }), {
      maxItems: 16,
      description: 'as `npm run release -- sign` writes them (manifest.json.sig)',
    }),
  },
  { additionalProperties: false },
);
export type ReleaseCreateRequest = Static<typeof ReleaseCreateRequest>;
