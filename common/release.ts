/**
 * A release of loanet's agent or of a device's firmware, and the checks a
 * board makes before it writes a byte of it (docs/updates.md).
 *
 * A release is a manifest (what it is, what it runs on, which versions it
 * may replace, each file's size and SHA-256) and detached Ed25519
 * signatures over the manifest's exact bytes, made offline with a key the
 * server never holds (tools/release.ts). Boards trust several public keys,
 * so a key can be rotated: a new key is added to the boards with a release
 * signed by the old one, then the old one is dropped. The server stores and
 * serves releases; it cannot forge one, and a board refuses anything the
 * trusted keys did not sign.
 *
 * Pure: bytes in, a verdict out (node:crypto's Ed25519 and SHA-256 are
 * computations, not I/O).
 */
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';

export const RELEASE_FORMAT = 1;
/** A manifest is small: a few files. Larger is refused before it is parsed. */
export const RELEASE_MANIFEST_MAX_BYTES = 64 * 1024;
export const RELEASE_MAX_FILES = 64;

const Version = Type.String({ pattern: '^[0-9]+\\.[0-9]+\\.[0-9]+(-[0-9A-Za-z.-]{1,40})?$', maxLength: 60, description: 'major.minor.patch, optionally -prerelease' });
const Sha256 = Type.String({ pattern: '^[0-9a-f]{64}$' });
const Obj = <P extends Parameters<typeof Type.Object>[0]>(p: P) => Type.Object(p, { additionalProperties: false });

export const ReleaseFile = Obj({
  /** Where it goes, relative to the component's folder: no absolute path, no `..`. */
  path: Type.String({ pattern: '^(?!/)(?!.*(^|/)\\.\\.(/|$))[A-Za-z0-9._/-]{1,200}$' }),
  size: Type.Integer({ minimum: 0, maximum: 512 * 1024 * 1024 }),
  sha256: Sha256,
});
export type ReleaseFile = Static<typeof ReleaseFile>;

export const ReleaseManifest = Obj({
  format: Type.Literal(RELEASE_FORMAT),
  component: Type.Union([Type.Literal('agent'), Type.Literal('device-firmware')]),
  version: Version,
  /** What it runs on: a board's CPU architecture (the agent), a device's hardware id (firmware); a device profile if only some. */
  target: Obj({
    arch: Type.Optional(Type.Union([Type.Literal('arm64'), Type.Literal('amd64'), Type.Literal('armhf')])),
    hardware: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    profiles: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50 })),
  }),
  /** The oldest version it may replace (a migration it cannot skip); absent: any. */
  minFrom: Type.Optional(Version),
  /** Whether a board on a newer version may take it (a rollback the province decided on). */
  allowDowngrade: Type.Optional(Type.Boolean()),
  files: Type.Array(ReleaseFile, { minItems: 1, maxItems: RELEASE_MAX_FILES }),
  notes: Type.Optional(Type.String({ maxLength: 2000 })),
  /** When it was made, ISO 8601. */
  createdAt: Type.String({ maxLength: 40 }),
});
export type ReleaseManifest = Static<typeof ReleaseManifest>;

/** One signature of the manifest's bytes: which key, and the 64-byte Ed25519 signature in base64. */
export const ReleaseSignature = Obj({ keyId: Type.String({ pattern: '^[0-9a-f]{16}$' }), sig: Type.String({ minLength: 86, maxLength: 88 }) });
export type ReleaseSignature = Static<typeof ReleaseSignature>;

const checkManifest = TypeCompiler.Compile(ReleaseManifest);
const checkSignature = TypeCompiler.Compile(ReleaseSignature);

/** A public key a board trusts, and its id (the first 16 hex digits of the SHA-256 of its raw 32 bytes). */
export interface TrustedKey {
  keyId: string;
  key: KeyObject;
}

/** Read an Ed25519 public key in PEM (SPKI); throws naming what is wrong. */
export function trustedKeyFromPem(pem: string): TrustedKey {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType !== 'ed25519') throw new Error(`a ${key.asymmetricKeyType} key; release keys are Ed25519`);
  return { keyId: keyIdOf(key), key };
}

export function keyIdOf(publicKey: KeyObject): string {
  const raw = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32);
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

export type ReleaseRefusal = 'malformed' | 'unsigned' | 'unknown_key' | 'bad_signature' | 'wrong_component' | 'wrong_target' | 'downgrade' | 'same_version' | 'too_old_to_upgrade';

export type ReleaseVerdict = { ok: true; manifest: ReleaseManifest; keyId: string } | { ok: false; code: ReleaseRefusal; reason: string };

/** What the board (or device) is now, for the checks that depend on it. */
export interface InstalledState {
  component: ReleaseManifest['component'];
  version: string;
  arch?: string;
  hardware?: string;
  profile?: string;
}

/** What the signature check alone can refuse (the server's check: it has no installed state). */
export type SignatureRefusal = Extract<ReleaseRefusal, 'malformed' | 'unsigned' | 'unknown_key' | 'bad_signature'>;

export type SignatureVerdict = { ok: true; manifest: ReleaseManifest; keyId: string } | { ok: false; code: SignatureRefusal; reason: string };

/**
 * Whether the manifest is signed by a trusted key (one good signature among
 * any) and well-formed: what the server checks of an upload, and the first
 * half of a board's check. Signatures are checked before the manifest is
 * even parsed: nothing of an unsigned document is acted on.
 */
export function verifyReleaseSignature(manifestBytes: Uint8Array, signatures: readonly unknown[], trusted: readonly TrustedKey[]): SignatureVerdict {
  const refuse = (code: SignatureRefusal, reason: string): SignatureVerdict => ({ ok: false, code, reason });
  if (manifestBytes.length > RELEASE_MANIFEST_MAX_BYTES) return refuse('malformed', `manifest of ${manifestBytes.length} bytes; at most ${RELEASE_MANIFEST_MAX_BYTES}`);
  const sigs = signatures.filter((s): s is ReleaseSignature => checkSignature.Check(s));
  if (sigs.length === 0) return refuse('unsigned', 'no well-formed signature');
  let keyId: string | undefined;
  let badFrom: string | undefined;
  for (const s of sigs) {
    const k = trusted.find((t) => t.keyId === s.keyId);
    if (!k) continue;
    if (verifySignature(null, manifestBytes, k.key, Buffer.from(s.sig, 'base64'))) {
      keyId = k.keyId;
      break;
    }
    badFrom = s.keyId;
  }
  if (!keyId) {
    return badFrom
      ? refuse('bad_signature', `the signature by key ${badFrom} does not match the manifest: it was changed after signing, or signed by another key`)
      : refuse('unknown_key', `signed only by keys that are not among the trusted ones (${sigs.map((s) => s.keyId).join(', ')})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(manifestBytes).toString('utf8'));
  } catch {
    return refuse('malformed', 'the manifest is not JSON');
  }
  if (!checkManifest.Check(parsed)) {
    const e = checkManifest.Errors(parsed).First();
    return refuse('malformed', `manifest${e?.path ?? ''}: ${e?.message ?? 'invalid'}`);
  }
  return { ok: true, manifest: parsed, keyId };
}

/**
 * Whether a board may install this release: signed and well-formed
 * (verifyReleaseSignature), for this component and this board, and not a
 * downgrade (unless it says so) nor a jump over a version it must not skip.
 */
export function verifyRelease(manifestBytes: Uint8Array, signatures: readonly unknown[], trusted: readonly TrustedKey[], installed: InstalledState): ReleaseVerdict {
  const refuse = (code: ReleaseRefusal, reason: string): ReleaseVerdict => ({ ok: false, code, reason });
  const signed = verifyReleaseSignature(manifestBytes, signatures, trusted);
  if (!signed.ok) return signed;
  const { manifest: m, keyId } = signed;
  if (m.component !== installed.component) return refuse('wrong_component', `a release of ${m.component}, not of ${installed.component}`);
  if (m.target.arch && installed.arch && m.target.arch !== installed.arch) return refuse('wrong_target', `built for ${m.target.arch}; this board is ${installed.arch}`);
  if (m.target.hardware && m.target.hardware !== installed.hardware)
    return refuse('wrong_target', `built for hardware ${m.target.hardware}; this is ${installed.hardware ?? 'unknown hardware'}`);
  if (m.target.profiles && (!installed.profile || !m.target.profiles.includes(installed.profile))) {
    return refuse('wrong_target', `for the profiles ${m.target.profiles.join(', ')}; this is ${installed.profile ?? 'no known profile'}`);
  }
  const cmp = compareVersions(m.version, installed.version);
  if (cmp === 0) return refuse('same_version', `version ${m.version} is already installed`);
  if (cmp < 0 && !m.allowDowngrade) return refuse('downgrade', `version ${m.version} is older than the installed ${installed.version}, and the release does not allow a downgrade`);
  if (m.minFrom && compareVersions(installed.version, m.minFrom) < 0)
    return refuse('too_old_to_upgrade', `${m.version} replaces ${m.minFrom} or later; install that first (this is ${installed.version})`);
  return { ok: true, manifest: m, keyId };
}

/** Whether bytes received for a file are that file: its size and SHA-256 as the signed manifest says. */
export function fileMatches(entry: ReleaseFile, size: number, sha256: string): boolean {
  return size === entry.size && sha256 === entry.sha256;
}

/**
 * Semantic-version order: major, minor, patch numerically, then a release
 * after any of its prereleases, prereleases compared part by part (numbers
 * numerically, below words). A version that is not major.minor.patch sorts
 * below every one that is, so a board with an unreadable version may take
 * any release.
 */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const m = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/.exec(v);
    return m ? { nums: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4]?.split('.') ?? null } : null;
  };
  const x = parse(a);
  const y = parse(b);
  if (!x || !y) return x ? 1 : y ? -1 : 0;
  for (let i = 0; i < 3; i++) if (x.nums[i] !== y.nums[i]) return x.nums[i]! < y.nums[i]! ? -1 : 1;
  if (!x.pre || !y.pre) return x.pre ? -1 : y.pre ? 1 : 0;
  for (let i = 0; i < Math.max(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i];
    const q = y.pre[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn && Number(p) !== Number(q)) return Number(p) < Number(q) ? -1 : 1;
    if (pn !== qn) return pn ? -1 : 1;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}
