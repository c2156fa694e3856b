/**
 * The copy of a response schema that fast-json-stringify compiles: the same
 * shape, with the unions it cannot write directly turned into type lists.
 *
 * fast-json-stringify writes an `anyOf` by validating the value against each
 * branch with Ajv until one matches: every branch becomes a compiled Ajv
 * validator held for the process, and every value of such a field is
 * validated before it is written. The API's schemas are full of them (a
 * nullable field is `anyOf: [T, null]`, an enumeration `anyOf` of constants;
 * GET /api/sites alone held ~190 validators). Where the branches differ only
 * by JSON type, the type decides the branch, and `type: [T, 'null']` says the
 * same thing: fast-json-stringify writes it with a `typeof` test.
 *
 * Only the serialiser's copy changes. Validation of requests, OpenAPI and the
 * console keep the declared unions. A union this cannot say as a type list
 * (two object shapes, a string with a format beside a plain one) is left as
 * it is, and is written as before.
 */

type Json = Record<string, unknown>;

const PRIMITIVES = new Set(['string', 'number', 'integer', 'boolean']);
const JSON_TYPES = new Set([...PRIMITIVES, 'null', 'object', 'array']);
/** Keywords that say nothing a serialiser uses (it neither validates nor documents). */
const ANNOTATIONS = new Set(['description', 'title', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly', '$comment']);
/** Keywords that only restrict values; a serialiser writes the value whatever they say. */
const RESTRICTIONS = new Set(['const', 'enum', 'minLength', 'maxLength', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf']);
/** Keywords holding one schema, a list of schemas, or a map of schemas. */
const ONE = ['items', 'additionalProperties', 'not', 'if', 'then', 'else', 'contains', 'propertyNames'];
const LIST = ['anyOf', 'oneOf', 'allOf', 'prefixItems'];
const MAP = ['properties', 'patternProperties', '$defs', 'definitions'];

const isObject = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);

/** The schema as fast-json-stringify should compile it; the input is not changed. */
export function serializerSchema<T>(schema: T): T {
  return rewrite(schema) as T;
}

function rewrite(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(rewrite);
  if (!isObject(s)) return s;
  const out: Json = {};
  for (const [k, v] of Object.entries(s)) {
    if (ONE.includes(k)) out[k] = rewrite(v);
    else if (LIST.includes(k) && Array.isArray(v)) out[k] = v.map(rewrite);
    else if (MAP.includes(k) && isObject(v)) out[k] = Object.fromEntries(Object.entries(v).map(([name, sub]) => [name, rewrite(sub)]));
    else out[k] = v;
  }
  // Symbol keys (TypeBox's Kind) mean nothing to a serialiser and are left behind.
  return Array.isArray(out.anyOf) ? (byType(out) ?? out) : out;
}

/** The types a branch is, when its type alone says it (no combinator, no reference). */
function typesOf(b: Json): string[] | undefined {
  if (b.$ref !== undefined || b.anyOf !== undefined || b.oneOf !== undefined || b.allOf !== undefined || b.not !== undefined || b.if !== undefined) return undefined;
  const t = typeof b.type === 'string' ? [b.type] : Array.isArray(b.type) ? b.type : undefined;
  return t && t.length > 0 && t.every((x) => typeof x === 'string' && JSON_TYPES.has(x)) ? (t as string[]) : undefined;
}

/** The keywords of a branch beyond its type, its annotations and its restrictions: what a serialiser would use. */
function shapeKeys(b: Json): string[] {
  return Object.keys(b).filter((k) => k !== 'type' && !ANNOTATIONS.has(k) && !RESTRICTIONS.has(k));
}

/**
 * An `anyOf` whose branches each have their own JSON type, at most one of
 * them with a shape (properties, items, a format), as one schema with a type
 * list; branches of one primitive type that differ only by their restrictions
 * (an enumeration's constants) count as one.
 */
function byType(node: Json): Json | undefined {
  const { anyOf, ...rest } = node as Json & { anyOf: unknown[] };
  if (Object.keys(rest).some((k) => !ANNOTATIONS.has(k) && k !== '$id')) return undefined;
  const byTypeName = new Map<string, Json>();
  for (const b of anyOf) {
    if (!isObject(b)) return undefined;
    const types = typesOf(b);
    if (types?.length !== 1) return undefined;
    const t = types[0]!;
    const seen = byTypeName.get(t);
    if (seen) {
      // Another branch of the same type: the same thing to a serialiser only if neither has a shape of its own.
      if (!PRIMITIVES.has(t) || shapeKeys(seen).length > 0 || shapeKeys(b).length > 0) return undefined;
      continue;
    }
    byTypeName.set(t, b);
  }
  const types = [...byTypeName.keys()];
  // An integer and a number branch: which one a value takes is not its JSON type.
  if (types.includes('integer') && types.includes('number')) return undefined;
  const shaped = [...byTypeName.values()].filter((b) => shapeKeys(b).length > 0);
  if (shaped.length > 1) return undefined;
  const shape = shaped[0] ? Object.fromEntries(shapeKeys(shaped[0]).map((k) => [k, shaped[0]![k]])) : {};
  return { ...rest, ...shape, type: types.length === 1 ? types[0] : types };
}
