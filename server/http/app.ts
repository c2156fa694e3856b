/**
 * Builds the Fastify application (no listen: tests use inject or their own
 * port): what every request goes through (authentication, limits, the error
 * shape, OpenAPI at /docs), then each feature's routes (its routes.ts), whose
 * TypeBox schemas give validation, serialisation and OpenAPI from one source.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyError, LogController } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv, type Options as AjvOptions } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifyPluginAsync } from 'fastify';
import type { ServerContext } from '../context.ts';
import { isErrorCode } from '../../api/error-catalogue.ts';
import { Errors, LoanetError } from '../errors.ts';
import { isDatabaseDiskFull, isStoreUnavailable } from '../store/failure.ts';
import { registerAuth } from './auth.ts';
import { registerCompression } from './compress.ts';
import { installConnectionGuards } from './connection-guards.ts';
import { nodeServerTimeouts } from './limits.ts';
import { registerDiskGuard, replyDiskFull } from './disk.ts';
import { ErrorBody } from '../../api/errors.ts';
import { REQUEST_ID_HEADER, requestIdOf } from '../metrics/request-id.ts';
import { cachedSerializerFactory } from './serializer-cache.ts';

/** How long a request the database could not answer is told to wait before trying again. */
const STORE_RETRY_AFTER_S = 5;

export type App = FastifyInstance;

/** What every request goes through needs this of the server; the routes bring their own. */
export type AppDeps = Pick<ServerContext, 'config' | 'disk' | 'users' | 'siteAuthority' | 'versions'>;

/**
 * `logger`: Fastify's own (options, or false). `loggerInstance`: the server's log, so what a request logs (an
 * error answered 500, a warning) lands there with its reqId; its access lines only with `accessLog`.
 */
export interface AppLogging {
  logger?: boolean | object;
  loggerInstance?: FastifyBaseLogger;
  accessLog?: boolean;
}

export async function buildApp(ctx: AppDeps, routes: readonly FastifyPluginAsync[], opts: AppLogging = {}): Promise<App> {
  const app = Fastify({
    ...(opts.loggerInstance
      ? { loggerInstance: opts.loggerInstance, logController: new LogController({ disableRequestLogging: !opts.accessLog }) }
      : { logger: opts.logger ?? false }),
    bodyLimit: 1024 * 1024,
    // req.ip is the TCP peer unless LOANET_TRUST_PROXY names the proxy in front:
    // a client's own X-Forwarded-For must not choose the address it is limited by.
    trustProxy: ctx.config.trustProxy.length > 0 ? ctx.config.trustProxy : false,
    // Header, body, keep-alive and idle deadlines (limits.ts): a slow client cannot hold a connection for ever.
    ...nodeServerTimeouts(ctx.config.http),
    // Every log line of a request carries its id (reqId), and the answer names it (x-request-id): a caller's safe one, else ours.
    genReqId: requestIdOf,
    // One serialiser per distinct response schema, not per route and status (serializer-cache.ts).
    schemaController: { compilersFactory: { buildSerializer: cachedSerializerFactory } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.addHook('onRequest', async (req, reply) => {
    reply.header(REQUEST_ID_HEADER, req.id);
  });

  // Query strings and path parameters arrive as text and are coerced ("5" → 5);
  // a JSON body is taken as sent, so {"name": 5} is refused, not turned into "5".
  const base: AjvOptions = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };
  const bodyAjv = addFormats.default(new Ajv({ ...base, coerceTypes: false }));
  const textAjv = addFormats.default(new Ajv({ ...base, coerceTypes: 'array' }));
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : textAjv).compile(schema));

  app.addContentTypeParser(['text/csv', 'text/plain'], { parseAs: 'string', bodyLimit: 10 * 1024 * 1024 }, (_req, body, done) => done(null, body));

  // Every error answer has one shape (api/errors.ts): declared once, referenced by every route that
  // does not name its own, so the error handler's answers are serialised and documented alike.
  app.addSchema(ErrorBody);
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/api/') || route.method === 'HEAD') return;
    const schema = (route.schema ??= {});
    const response = ((schema as { response?: Record<string, unknown> }).response ??= {});
    for (const status of ['4xx', '5xx']) response[status] ??= { $ref: 'Error#' };
  });

  await app.register(swagger, {
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    // OpenAPI 3.1 is JSON Schema 2020-12: a tuple is prefixItems, not draft-07's items: [...] (which the validator still reads).
    transformObject: (doc) => ('openapiObject' in doc ? draft07TuplesToPrefixItems(doc.openapiObject) : doc.swaggerObject),
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'loanet API',
        description: 'Radio network management: areas, sites, commands and verified coverage. Authenticate with POST /api/auth/login and send Authorization: Bearer <token>.',
        version: ctx.versions.loanet,
        license: { name: 'AGPL-3.0-or-later', identifier: 'AGPL-3.0-or-later' },
      },
      // Same origin as the document: the console and the API are served together.
      servers: [{ url: '/' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.setErrorHandler((err: FastifyError | LoanetError, req, reply) => {
    if (err instanceof LoanetError) {
      // The type system keeps codes to the catalogue; a code from outside it (a core's own) is sent, and logged so it gets catalogued.
      if (!isErrorCode(err.code)) req.log.warn({ code: err.code }, 'error code outside the catalogue (api/error-catalogue.ts): the console cannot word it');
      return reply.status(err.statusCode).send({ ...err.details, error: err.code, message: err.message, params: err.params });
    }
    if ('validation' in err && err.validation) {
      const v = err.validation[0];
      const where = (err.validationContext ?? 'body') as string;
      const path = v?.instancePath ? v.instancePath.replace(/^\//, '').replace(/\//g, '.') : '';
      const missing = v && 'missingProperty' in v.params ? String(v.params.missingProperty) : '';
      const extra = v && 'additionalProperty' in v.params ? String(v.params.additionalProperty) : '';
      const field = [path, missing || extra].filter(Boolean).join('.') || where;
      const message = extra ? `${where}.${field}: unknown field` : `${where}${field !== where ? '.' + field : ''}: ${v?.message ?? 'invalid'}`;
      return reply.status(400).send({ error: 'LOANET_BAD_REQUEST', message, field });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      // Name the limit: the route's own, else the server's (the content-type parsers of larger bodies set theirs on the route too).
      const limit = req.routeOptions.bodyLimit;
      return reply.status(413).send({ error: 'LOANET_BODY_TOO_LARGE', message: `body: larger than the ${limit} bytes this request accepts`, field: 'body', limit });
    }
    // The database server's own disk full (PostgreSQL): 507 naming that disk, not the data folder's, whose reserve stays.
    if (isDatabaseDiskFull(err)) {
      ctx.disk.noteDatabaseFull();
      req.log.error({ err: err.message, code: err.code }, "the database server's disk is full: this write was refused and nothing of it kept");
      const e = Errors.databaseDiskFull();
      return reply.status(e.statusCode).send({ ...e.details, error: e.code, message: e.message, params: e.params });
    }
    // ENOSPC / SQLITE_FULL from any route: 507 saying what is full, not "internal error".
    const full = replyDiskFull(ctx.disk, err, reply);
    if (full) return full;
    // The database busy, its connection lost or not to be had in time: it passes, so the caller is told to come back, not "internal error".
    if (isStoreUnavailable(err)) {
      req.log.warn({ err: err.message, code: err.code }, 'the database could not answer this request now');
      const e = Errors.unavailable('store', 'the database could not answer in time (busy, or its connection was lost); try again in a few seconds');
      return reply
        .status(e.statusCode)
        .header('retry-after', String(STORE_RETRY_AFTER_S))
        .send({ ...e.details, error: e.code, message: e.message, params: e.params });
    }
    const status = err.statusCode ?? 500;
    if (status >= 500) req.log.error(err);
    return reply.status(status).send({ error: err.code ?? 'LOANET_INTERNAL', message: status >= 500 ? 'internal error' : err.message });
  });

  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: 'LOANET_NOT_FOUND', message: `no route ${req.method} ${req.url}` }));

  registerAuth(app, ctx.users, ctx.siteAuthority);
  // After authentication: an unauthenticated request is answered 401, not 507.
  registerDiskGuard(app, ctx.disk);
  installConnectionGuards(app, ctx.config.http);
  registerCompression(app);
  for (const r of routes) await app.register(r);
  return app;
}

/** A copy of `doc` with every draft-07 tuple (`items: [a, b]`, `additionalItems`) written as 2020-12 `prefixItems` and `items: false`. */
export function draft07TuplesToPrefixItems<T>(doc: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== 'object') return v;
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = walk(x);
    if (Array.isArray(o.items)) {
      o.prefixItems = o.items;
      o.items = o.additionalItems === undefined ? false : o.additionalItems;
      delete o.additionalItems;
    }
    return o;
  };
  return walk(doc) as T;
}
