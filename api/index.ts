/**
 * The HTTP contract in one import: request and response shapes of the API and
 * the console's event stream, as TypeBox schemas (the server's routes use the
 * values) and TypeScript types (the console imports only the types, so no
 * schema code is bundled into it). protocol/ is the same for MQTT.
 */
export * from './errors.ts';
export * from './error-catalogue.ts';
export * from './common.ts';
export * from './sites.ts';
export * from './areas.ts';
export * from './auth.ts';
export * from './users.ts';
export * from './audit.ts';
export * from './coverage.ts';
export * from './alerts.ts';
export * from './schedule.ts';
export * from './as-run.ts';
export * from './broker.ts';
export * from './stream.ts';
export * from './health.ts';
export * from './fleet.ts';
export * from './media.ts';
export * from './live.ts';
export * from './enrolment.ts';
export * from './releases.ts';
export * from './rollouts.ts';
