/**
 * The one way a route reaches a site on behalf of a person: the permission
 * first, then the site (404 when unknown), then the area scope (a site
 * outside the caller's area is not found either, as on every site route;
 * for a move, the new area must lie inside it too).
 */
import type { FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.ts';
import { enforceScope, requirePermission, type Permission } from '../http/auth.ts';
import { siteRefusal } from '../auth/scope-policy.ts';
import type { Site } from './sites.ts';

export async function siteFor(
  ctx: Pick<ServerContext, 'sites' | 'coverage'>,
  req: FastifyRequest,
  id: string,
  p: Permission,
  newAreaId?: number,
): Promise<{ site: Site; user: { id: number; username: string } }> {
  const principal = requirePermission(req, p);
  const site = await ctx.sites.require(id);
  enforceScope(siteRefusal(principal.user.areaId, site.id, site.areaId, newAreaId, ctx.coverage.areaIndex()));
  return { site, user: principal.user };
}
