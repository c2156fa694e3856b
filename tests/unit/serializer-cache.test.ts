/**
 * Response serialisers are compiled once per distinct schema and shared by
 * every route, status and server instance that answers it; what they write
 * is still each schema's own (undeclared fields dropped), so sharing never
 * lets one route's shape serialise another's answer.
 */
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { cachedSerializerFactory, compiledSerializers } from '../../server/http/serializer-cache.ts';

const View = { type: 'object', properties: { id: { type: 'string' }, n: { type: 'integer' } }, required: ['id'] } as const;
const Other = { type: 'object', properties: { id: { type: 'string' }, secret: { type: 'string' } } } as const;
const Problem = { $id: 'TestProblem', type: 'object', properties: { error: { type: 'string' } } } as const;

const apps: Array<ReturnType<typeof Fastify>> = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function app() {
  const a = Fastify({ schemaController: { compilersFactory: { buildSerializer: cachedSerializerFactory } } });
  apps.push(a);
  a.addSchema(Problem);
  const answer = { id: 'x', n: 3, secret: 'kept on the server', extra: true };
  for (const url of ['/a', '/b', '/c']) {
    a.get(url, { schema: { response: { 200: View, '4xx': { $ref: 'TestProblem#' } } } }, async () => answer);
  }
  a.get('/other', { schema: { response: { 200: Other, '4xx': { $ref: 'TestProblem#' } } } }, async () => answer);
  a.get('/refused', { schema: { response: { 200: View, '4xx': { $ref: 'TestProblem#' } } } }, async (_req, reply) =>
    reply.status(409).send({ error: 'LOANET_CONFLICT', stack: 'never sent' }),
  );
  await a.ready();
  return a;
}

describe('cachedSerializerFactory', () => {
  it('compiles each distinct schema once, for every route and status and for a second server in the process', async () => {
    const before = compiledSerializers();
    const first = await app();
    // View, Other and the shared problem body: three, though five routes answer them.
    expect(compiledSerializers() - before).toBe(3);
    await app();
    expect(compiledSerializers() - before).toBe(3);
    expect((await first.inject('/a')).json()).toEqual({ id: 'x', n: 3 });
  });

  it("writes each schema's own shape: undeclared fields are dropped, and a route never answers through another's", async () => {
    const a = await app();
    for (const url of ['/a', '/b', '/c']) expect((await a.inject(url)).json()).toEqual({ id: 'x', n: 3 });
    expect((await a.inject('/other')).json()).toEqual({ id: 'x', secret: 'kept on the server' });
    const refused = await a.inject('/refused');
    expect(refused.statusCode).toBe(409);
    expect(refused.json()).toEqual({ error: 'LOANET_CONFLICT' });
  });
});
