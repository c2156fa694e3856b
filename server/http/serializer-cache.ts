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

type Factory = ReturnType<typeof SerializerSelector>;
type Serializer = ReturnType<ReturnType<Factory>>;

const compiled = new Map<string, Serializer>();

/** Fastify's own serialiser factory, remembering what it compiled (fastify's `schemaController.compilersFactory.buildSerializer`). */
export const cachedSerializerFactory: Factory = (externalSchemas, options) => {
  const build = SerializerSelector()(externalSchemas, options);
  const context = JSON.stringify([externalSchemas ?? null, options ?? null]);
  return (route) => {
    const key = `${context}\n${JSON.stringify(route.schema ?? null)}`;
    let serialize = compiled.get(key);
    if (!serialize) {
      serialize = build(route);
      compiled.set(key, serialize);
    }
    return serialize;
  };
};

/** How many distinct serialisers this process compiled (for the test that checks the cache is used). */
export function compiledSerializers(): number {
  return compiled.size;
}
