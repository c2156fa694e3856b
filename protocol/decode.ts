/**
 * Decoding of MQTT payloads at the boundary: size, JSON, protocol version,
 * schema, in that order, each failure with a stable code and a reason that
 * names what is wrong. Never throws: a bad message from a device is a value
 * to count and drop, not an exception.
 */
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { Static, TSchema } from '@sinclair/typebox';
import { PROTOCOL_VERSION } from './version.ts';
import { CommandMessage, SiteEventMessage, SiteStateMessage, TelemetryMessage } from './messages.ts';
import { PlaylistMessage, playlistProblem } from './playlist.ts';
import { AlertControlMessage, alertControlProblem } from './alert.ts';

/** Largest JSON payload accepted on any site topic (a heartbeat is ~1 KB). */
export const MAX_JSON_PAYLOAD_BYTES = 16 * 1024;

export type DecodeErrorCode = 'too_large' | 'bad_json' | 'unknown_version' | 'schema';
export interface DecodeError {
  code: DecodeErrorCode;
  reason: string;
}
export type Decoded<T> = { ok: true; value: T } | { ok: false; error: DecodeError };

export interface PayloadDecoder<T> {
  readonly name: string;
  decode(payload: Uint8Array | string, maxBytes?: number): Decoded<T>;
  /** Validate an object built in code (before publishing it). */
  check(value: unknown): Decoded<T>;
}

function firstErrors(check: TypeCheck<TSchema>, value: unknown): string {
  const out: string[] = [];
  for (const e of check.Errors(value)) {
    out.push(`${e.path || '/'}: ${e.message}`);
    if (out.length >= 3) break;
  }
  return out.join('; ');
}

/**
 * For a union discriminated by `type` (commands, events), the errors of the
 * variant the message claims to be say what is wrong ("/params/level: Expected
 * integer to be less or equal to 100"); the union's own error says only
 * "Expected union value".
 */
function variantCheckers(schema: TSchema): Map<string, TypeCheck<TSchema>> {
  const out = new Map<string, TypeCheck<TSchema>>();
  const variants = (schema as { anyOf?: TSchema[] }).anyOf ?? [];
  for (const v of variants) {
    const t = (v as { properties?: { type?: { const?: unknown; anyOf?: Array<{ const?: unknown }> } } }).properties?.type;
    const consts = t?.const !== undefined ? [t.const] : (t?.anyOf ?? []).map((x) => x.const);
    for (const c of consts) if (typeof c === 'string') out.set(c, TypeCompiler.Compile(v));
  }
  return out;
}

/**
 * `problem`: rules a schema cannot say (fields that must agree with each other),
 * checked after the schema; what it returns is the reason of a `schema` error.
 */
export function payloadDecoder<S extends TSchema>(name: string, schema: S, problem?: (value: Static<S>) => string | undefined): PayloadDecoder<Static<S>> {
  const check = TypeCompiler.Compile(schema);
  const variants = variantCheckers(schema);
  const validate = (value: unknown): Decoded<Static<S>> => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { ok: false, error: { code: 'schema', reason: `${name}: expected a JSON object` } };
    }
    const v = (value as { v?: unknown }).v;
    if (v !== PROTOCOL_VERSION) {
      return {
        ok: false,
        error: {
          code: 'unknown_version',
          reason: `${name}: unsupported protocol version ${JSON.stringify(v ?? null)}; this side speaks ${PROTOCOL_VERSION}`,
        },
      };
    }
    if (!check.Check(value)) {
      const type = (value as { type?: unknown }).type;
      const variant = typeof type === 'string' ? variants.get(type) : undefined;
      const detail = variant ? firstErrors(variant, value) : variants.size > 0 ? `/type: must be one of ${[...variants.keys()].join(', ')}` : firstErrors(check, value);
      return { ok: false, error: { code: 'schema', reason: `${name}: ${detail}` } };
    }
    const wrong = problem?.(value as Static<S>);
    if (wrong !== undefined) return { ok: false, error: { code: 'schema', reason: `${name}: ${wrong}` } };
    return { ok: true, value: value as Static<S> };
  };
  return {
    name,
    check: validate,
    decode(payload, maxBytes = MAX_JSON_PAYLOAD_BYTES) {
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
      if (size > maxBytes) {
        return { ok: false, error: { code: 'too_large', reason: `${name}: payload of ${size} bytes exceeds ${maxBytes}` } };
      }
      let value: unknown;
      try {
        const text = typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8');
        value = JSON.parse(text);
      } catch (e) {
        return { ok: false, error: { code: 'bad_json', reason: `${name}: not valid JSON (${(e as Error).message})` } };
      }
      return validate(value);
    },
  };
}

export const decodeState = payloadDecoder('state', SiteStateMessage);
export const decodeTelemetry = payloadDecoder('telemetry', TelemetryMessage);
export const decodeEvent = payloadDecoder('event', SiteEventMessage);
export const decodeCommand = payloadDecoder('cmd', CommandMessage);
export const decodePlaylist = payloadDecoder('playlist', PlaylistMessage, playlistProblem);
/** Alert control on areas/{areaKey}/control (protocol/alert.ts). */
export const decodeAlertControl = payloadDecoder('alert-control', AlertControlMessage, alertControlProblem);

/** Serialise a message for the wire (one place, so encoding can change later). */
export function encodeJson(message: object): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}
