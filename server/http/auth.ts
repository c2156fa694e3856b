/**
 * Authentication and authorization for the HTTP API. Every route under /api
 * requires a bearer token except the few marked public (health, login).
 * The console's browser sends its session token in an HttpOnly cookie
 * instead, with a CSRF token on unsafe methods (session-cookie.ts says why).
 * Authorization is by role, scoped to the user's area subtree.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal, Role, UserRepository } from '../auth/users.ts';
import { Errors, fail } from '../errors.ts';
import { CSRF_HEADER, SESSION_COOKIE, csrfMatches, isUnsafeMethod, originAllowed, readCookie } from './session-cookie.ts';
import type { ScopeRefusal } from '../auth/scope-policy.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
    /** How the principal was authenticated: a bearer header, or the console's session cookie. */
    authVia: 'bearer' | 'cookie' | null;
    /** A site authenticated with HTTP Basic (site id + site secret), on a route marked `siteAccess`; principal is then null. */
    site: { siteId: string } | null;
  }
  interface FastifyContextConfig {
    /** A route anyone may call without a token. */
    public?: boolean;
    /** A route anyone may call, that tells a signed-in caller more: credentials are read when sent, and a bad one is taken as none. */
    optionalAuth?: boolean;
    /** A route a SITE may call with its own credential (HTTP Basic siteId:secret); every other route refuses it. */
    siteAccess?: boolean;
  }
}

/** The site registry's credential check (server/registry/sites.ts: cached after the first success, cleared on rotate and retire). */
export interface SiteCredentialVerifier {
  verifyCredential(siteId: string, secret: string): Promise<boolean>;
}

/**
 * A site's HTTP Basic credential (the same site id and secret as its MQTT
 * login). Sites download media for their playlists this way; they get that
 * route only, so a stolen agent secret cannot read the network or act on it.
 */
async function authenticateSite(header: string, siteAccess: boolean, sites: SiteCredentialVerifier | undefined): Promise<{ siteId: string }> {
  const encoded = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header)?.[1];
  const decoded = encoded ? Buffer.from(encoded, 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  const siteId = colon > 0 ? decoded.slice(0, colon) : '';
  const secret = colon > 0 ? decoded.slice(colon + 1) : '';
  if (!sites || !siteId || !secret || !(await sites.verifyCredential(siteId, secret))) {
    throw fail('LOANET_BAD_SITE_CREDENTIALS', {});
  }
  if (!siteAccess) throw Errors.forbidden({ rule: 'site_credential', siteId });
  return { siteId };
}

export type Permission =
  | 'read' // see areas, sites, coverage, commands
  | 'registry.write' // create/update/retire areas and sites, rotate credentials
  | 'site.command' // volume, amplifier, test tone, sound check, reboot
  | 'site.enrol' // make a one-time enrolment code for a site's board (trading it rotates the site's credential)
  | 'media.write' // upload, synthesise, edit and retire media (the library is province-wide)
  | 'schedule.write' // create, edit drafts of and cancel broadcast items (inside the user's area)
  | 'schedule.approve' // approve drafts; operators only others' drafts (four eyes, server/schedule/service.ts)
  | 'live.broadcast' // go live (voice, relay, media played now) in the user's area; stop a live stream
  | 'alert.write' // start, update and cancel emergency alerts (inside the user's area)
  | 'release.write' // upload and retire signed releases (the server stores them; only the offline key makes them)
  | 'rollout.write' // create, pause, resume and abort rollouts of releases to the fleet
  | 'users.manage'
  | 'audit.read';

const GRANTS: Record<Role, readonly Permission[]> = {
  admin: [
    'read',
    'alert.write',
    'registry.write',
    'site.command',
    'site.enrol',
    'media.write',
    'schedule.write',
    'schedule.approve',
    'live.broadcast',
    'release.write',
    'rollout.write',
    'users.manage',
    'audit.read',
  ],
  // Installing and replacing boards (enrolment) is theirs too, and updating their software and device firmware.
  technician: ['read', 'site.command', 'site.enrol', 'release.write', 'rollout.write'],
  // Technicians keep the network running; making bulletins is the operators' job.
  operator: ['read', 'site.command', 'media.write', 'schedule.write', 'schedule.approve', 'live.broadcast'],
  // Emergency officials start alerts; nothing else changes.
  emergency: ['read', 'alert.write'],
  viewer: ['read'],
};

/** Everything a role may do (the console shows only what the user can use). */
export function permissionsOf(role: Role): readonly Permission[] {
  return GRANTS[role];
}

export function can(role: Role, p: Permission): boolean {
  return GRANTS[role].includes(p);
}

export function registerAuth(app: FastifyInstance, users: UserRepository, sites?: SiteCredentialVerifier): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('authVia', null);
  app.decorateRequest('site', null);
  app.addHook('onRequest', async (req) => {
    if (!req.url.startsWith('/api/') || req.routeOptions.config?.public) return;
    if (req.routeOptions.config?.optionalAuth) {
      await authenticate(req).catch(() => {
        req.principal = null;
        req.authVia = null;
      });
      return;
    }
    await authenticate(req);
  });

  async function authenticate(req: FastifyRequest): Promise<void> {
    const header = req.headers.authorization;
    if (header && /^Basic\s/i.test(header)) {
      req.site = await authenticateSite(header, req.routeOptions.config?.siteAccess === true, sites);
      return;
    }
    if (header) {
      // An explicit header wins over a cookie, so a script in a logged-in browser acts as itself.
      const m = /^Bearer\s+(\S+)$/i.exec(header);
      const principal = m ? await users.authenticate(m[1]!) : undefined;
      if (!principal) throw Errors.unauthenticated();
      req.principal = principal;
      req.authVia = 'bearer';
      return;
    }
    const token = readCookie(req.headers.cookie, SESSION_COOKIE);
    const principal = token ? await users.authenticate(token) : undefined;
    // Only login sessions ride in cookies; a long-lived API token never does.
    if (!token || !principal || principal.tokenKind !== 'session') throw Errors.unauthenticated();
    if (!originAllowed(req.headers.origin, req.headers.host)) throw fail('LOANET_CSRF', { reason: 'origin', origin: String(req.headers.origin) });
    if (isUnsafeMethod(req.method)) {
      const sent = req.headers[CSRF_HEADER];
      if (!csrfMatches(token, Array.isArray(sent) ? sent[0] : sent)) throw fail('LOANET_CSRF', { reason: 'token' });
    }
    req.principal = principal;
    req.authVia = 'cookie';
  }
}

/**
 * Check a permission, and when `areaIds` is given (the area ids the target
 * lies in: its area and ancestors), that the user's scope contains it.
 */
export function requirePermission(req: FastifyRequest, p: Permission, targetAreaPath?: readonly number[]): Principal {
  const principal = req.principal;
  if (!principal) throw Errors.unauthenticated();
  const { user } = principal;
  if (!can(user.role, p)) throw Errors.forbidden({ rule: 'role', role: user.role, permission: p, action: describe(p) });
  if (targetAreaPath && user.areaId !== null && !targetAreaPath.includes(user.areaId)) {
    throw Errors.forbidden({ rule: 'own_area', username: user.username });
  }
  return principal;
}

/**
 * Turn a scope decision (server/auth/scope-policy.ts) into the answer: a thing
 * the caller may not see is not found (404, so ids cannot be probed); a
 * target outside the caller's area is 403 naming the field. The message
 * never lists what lies outside.
 */
export function enforceScope(refusal: ScopeRefusal | null): void {
  if (!refusal) return;
  if (refusal.kind === 'hidden') throw Errors.notFound(refusal.thing, refusal.id);
  throw Errors.forbidden({ rule: 'scope', field: refusal.field, text: refusal.reason });
}

function describe(p: Permission): string {
  switch (p) {
    case 'read':
      return 'read the network';
    case 'registry.write':
      return 'change areas and sites';
    case 'site.command':
      return 'send commands to sites';
    case 'site.enrol':
      return 'enrol boards';
    case 'media.write':
      return 'change the media library';
    case 'schedule.write':
      return 'schedule broadcasts';
    case 'schedule.approve':
      return 'approve broadcasts';
    case 'live.broadcast':
      return 'broadcast live';
    case 'alert.write':
      return 'start, update or cancel emergency alerts';
    case 'release.write':
      return 'upload and retire software releases';
    case 'rollout.write':
      return 'roll out software updates';
    case 'users.manage':
      return 'manage users';
    case 'audit.read':
      return 'read the audit log';
    default: {
      const never: never = p;
      return never;
    }
  }
}
