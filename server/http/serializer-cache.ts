/**
 * Response serialisers compiled once per distinct schema. Fastify compiles a
 * fast-json-stringify serialiser for every route and status it answers: every
 * /api route names the shared error body for 4xx and 5xx, and many routes
 * answer the same view, so the same few schemas were compiled hundreds of
 * times at each start, most of a start's CPU. A compiled serialiser depends
 * only on its schema, the shared schemas it may reference and the
 * serialiser's options, so it is kept by those, for the process: a server
 * restarted in the same process (a test, a failover drill) reuses them too.
 * The set is bounded by the schemas the code declares.
 */
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';
import { serializerSchema } from './serializer-schema.ts';

type Factory = ReturnType<typeof SerializerSelector>;
type Serializer = ReturnType<ReturnType<Factory>>;

const compiled = new Map<string, Serializer>();

/**
 * Fastify's own serialiser factory, remembering what it compiled (fastify's
 * `schemaController.compilersFactory.buildSerializer`), on the schemas as
 * serializer-schema.ts rewrites them.
 */
export const cachedSerializerFactory: Factory = (externalSchemas, options) => {
  const shared = externalSchemas && Object.fromEntries(Object.entries(externalSchemas).map(([id, schema]) => [id, serializerSchema(schema)]));
  const build = SerializerSelector()(shared, options);
  const context = JSON.stringify([externalSchemas ?? null, options ?? null]);
  return (route) => {
    const key = `${context}\n${JSON.stringify(route.schema ?? null)}`;
    let serialize = compiled.get(key);
    if (!serialize) {
      serialize = build({ ...route, schema: serializerSchema(route.schema) });
      compiled.set(key, serialize);
    }
    return serialize;
  };
};

/** How many distinct serialisers this process compiled (for the test that checks the cache is used). */
export function compiledSerializers(): number {
  return compiled.size;
}

/** Each distinct response schema compiled so far, with the shared schemas it was compiled beside (as JSON): for the serialiser benchmark. */
export function compiledSchemas(): Array<{ shared: Record<string, unknown> | null; schema: unknown }> {
  return [...compiled.keys()].map((key) => {
    const nl = key.indexOf('\n');
    const [shared] = JSON.parse(key.slice(0, nl)) as [Record<string, unknown> | null, unknown];
    return { shared, schema: JSON.parse(key.slice(nl + 1)) as unknown };
  });
}
