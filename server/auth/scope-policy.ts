/**
 * Area scope, pure: what a user whose role is confined to an area subtree may
 * see and change. Every route that reads or changes users, areas, sites,
 * alerts, CAP senders or the audit log asks this module, so the model lives in
 * one place:
 *
 * - A user with an area (its scope root) sees and acts only inside that
 *   subtree; a user without one (null) is network-wide.
 * - A scoped admin manages users only inside its subtree and never makes a
 *   user network-wide or places one outside the subtree; as its own area can
 *   only move inside the subtree, it can never clear or widen it.
 * - A scoped admin restructures areas only strictly below its root: it may
 *   add children to its root, but never rename, move or retire the root
 *   itself, nor import an area list (an import upserts anywhere).
 * - Sites: created, moved (from AND to), retired only inside the subtree.
 * - Reads of one thing outside the scope answer 404, as if it did not exist,
 *   so ids cannot be probed; targets named in a request body outside the
 *   scope answer 403 naming the field (areas are public geography).
 * - An alert is visible when its targets intersect the subtree: a target
 *   site inside it, or (for an alert to whole areas) a target area inside
 *   the subtree or above it. A viewer sees only its own sites' delivery.
 * - The audit log: a scoped admin reads the entries whose actor is a user
 *   inside its subtree, or whose target is a user, site or area inside it.
 */

/** Subtree membership, as the coverage AreaIndex answers it. */
export interface AreaTree {
  /** Whether area `id` is `ancestorId` or lies below it. */
  isInSubtree(id: number, ancestorId: number): boolean;
}

/** Root of a user's scope; null: the whole network. */
export type ScopeRoot = number | null;

/** Something placed at `areaId` (null: network-wide, e.g. an unscoped user) lies inside the scope. */
export function withinScope(scope: ScopeRoot, areaId: number | null | undefined, tree: AreaTree): boolean {
  if (scope === null) return true;
  return areaId !== null && areaId !== undefined && tree.isInSubtree(areaId, scope);
}

/** An area inside the scope or above it: an alert or broadcast to it reaches the scope's people. */
export function touchesScope(scope: ScopeRoot, areaId: number, tree: AreaTree): boolean {
  if (scope === null) return true;
  return tree.isInSubtree(areaId, scope) || tree.isInSubtree(scope, areaId);
}

/** Why a request is refused: `hidden` (answer 404: the caller may not know it exists) or `forbidden` (403, naming the field). */
/** Hidden: the thing's kind and id (answered as not found); forbidden: the field at fault and why. */
export type ScopeRefusal = { kind: 'hidden'; thing: 'user' | 'area' | 'site' | 'cap_sender'; id: string } | { kind: 'forbidden'; field: string; reason: string };

export interface UserPlacement {
  id: number;
  areaId: number | null;
}

/**
 * A user-management change by `actor` (its own id and scope): creating a user
 * (`target` undefined) or changing one, with `nextAreaId` the area asked for
 * (undefined: unchanged; null: network-wide). null when allowed.
 */
export function userChangeRefusal(
  actor: { id: number; scope: ScopeRoot },
  target: UserPlacement | undefined,
  nextAreaId: number | null | undefined,
  tree: AreaTree,
): ScopeRefusal | null {
  if (actor.scope === null) return null;
  if (target && !withinScope(actor.scope, target.areaId, tree)) return { kind: 'hidden', thing: 'user', id: String(target.id) };
  const placed = target === undefined ? (nextAreaId ?? null) : nextAreaId;
  if (placed === undefined) return null;
  if (placed === null)
    return { kind: 'forbidden', field: 'area', reason: 'an admin scoped to an area cannot make a user network-wide (area null or left out): give an area inside your own' };
  if (!withinScope(actor.scope, placed, tree)) return { kind: 'forbidden', field: 'area', reason: 'the area lies outside your own area' };
  return null;
}

/** Creating an area under `parentId` (null: a new top-level area). */
export function areaCreateRefusal(scope: ScopeRoot, parentId: number | null, tree: AreaTree): ScopeRefusal | null {
  if (scope === null) return null;
  if (parentId === null) return { kind: 'forbidden', field: 'parent', reason: 'an admin scoped to an area can create areas only inside it: give a parent inside your area' };
  if (!withinScope(scope, parentId, tree)) return { kind: 'forbidden', field: 'parent', reason: 'the parent area lies outside your own area' };
  return null;
}

/**
 * Changing, moving or retiring area `areaId` (its nearest active area for a
 * retired one), and for a move the new parent. The scope root itself is
 * visible but not changeable by a scoped admin.
 */
export function areaChangeRefusal(scope: ScopeRoot, areaId: number | null, newParentId: number | null | undefined, tree: AreaTree, key: string): ScopeRefusal | null {
  if (scope === null) return null;
  if (!withinScope(scope, areaId, tree)) return { kind: 'hidden', thing: 'area', id: key };
  if (areaId === scope) return { kind: 'forbidden', field: 'key', reason: `area ${key} is the root of your own area: only an admin above it may change, move or retire it` };
  if (newParentId !== undefined && !withinScope(scope, newParentId, tree)) return { kind: 'forbidden', field: 'parent', reason: 'the new parent area lies outside your own area' };
  return null;
}

/** A site at `areaId` read or changed, and for a move its new area. */
export function siteRefusal(scope: ScopeRoot, siteId: string, areaId: number, newAreaId: number | undefined, tree: AreaTree): ScopeRefusal | null {
  if (scope === null) return null;
  if (!withinScope(scope, areaId, tree)) return { kind: 'hidden', thing: 'site', id: siteId };
  if (newAreaId !== undefined && !withinScope(scope, newAreaId, tree)) return { kind: 'forbidden', field: 'area', reason: 'the new area lies outside your own area' };
  return null;
}

/** What an alert reaches: its channel areas, and the sites of a drawn or CAP geometry (siteFilter non-null). */
export interface AlertReach {
  areaIds: readonly number[];
  /** Sites named by geometry, with their areas; null: every site of the areas. */
  siteAreaIds: readonly number[] | null;
}

/** Whether the alert's targets intersect the scope (who may read it). */
export function alertVisible(scope: ScopeRoot, reach: AlertReach, tree: AreaTree): boolean {
  if (scope === null) return true;
  if (reach.siteAreaIds !== null) return reach.siteAreaIds.some((a) => withinScope(scope, a, tree));
  return reach.areaIds.some((a) => touchesScope(scope, a, tree));
}

/** The sites of an alert's delivery a scoped reader may see: only its own. */
export function siteVisible(scope: ScopeRoot, siteAreaId: number | undefined, tree: AreaTree): boolean {
  return scope === null || (siteAreaId !== undefined && withinScope(scope, siteAreaId, tree));
}

/** One audit entry as the scope rule sees it: the actor's current area, and the area of its target when it is a user, site or area. */
export interface AuditPlacement {
  /** The acting user's current area, undefined when the actor is the system or a deleted user. */
  actorAreaId: number | null | undefined;
  /** Area of the target (a user's scope, a site's area, the area itself), undefined when the target is not placed. */
  targetAreaId: number | null | undefined;
}

/** Whether a scoped admin may read an audit entry. */
export function auditVisible(scope: ScopeRoot, e: AuditPlacement, tree: AreaTree): boolean {
  if (scope === null) return true;
  return (e.actorAreaId != null && withinScope(scope, e.actorAreaId, tree)) || (e.targetAreaId != null && withinScope(scope, e.targetAreaId, tree));
}

/** Where a CAP message points, as matched against the network. */
export interface CapPlace {
  /** Areas its geocodes name. */
  areaIds: readonly number[];
  /** Areas of the sites its polygons and circles hold. */
  siteAreaIds: readonly number[];
  /** The message has at least one <area>. */
  hasArea: boolean;
}

/**
 * Whatever its status (Actual, Exercise, System, Test, Draft) or type, a CAP
 * message's areas must lie inside every scope given (the caller's and its
 * sender's). A message without any <area> places nothing and passes; one
 * whose areas match nothing in the network cannot be shown to lie inside a
 * scoped caller's or sender's area and is refused. Answers the reason
 * (counting, never naming, what lies outside) or null.
 */
export function capPlaceRefusal(scopes: ReadonlyArray<{ scope: ScopeRoot; label: string }>, place: CapPlace, tree: AreaTree): string | null {
  for (const { scope, label } of scopes) {
    if (scope === null || !place.hasArea) continue;
    if (place.areaIds.length === 0 && place.siteAreaIds.length === 0) return `no <area> of the message is in this network, so it cannot be shown to lie inside ${label}`;
    const areasOut = place.areaIds.filter((a) => !withinScope(scope, a, tree)).length;
    if (areasOut > 0) return `${areasOut} <area> geocode(s) of the message lie outside ${label}`;
    const sitesOut = place.siteAreaIds.filter((a) => !withinScope(scope, a, tree)).length;
    if (sitesOut > 0) return `${sitesOut} site(s) inside the message's polygons or circles lie outside ${label}`;
  }
  return null;
}

/**
 * Registering or changing a CAP sender (`current` undefined: a new one) by
 * an admin of `scope`: the sender's area (null: network-wide) and every
 * account bound to it must lie inside the admin's area; a sender outside is
 * not found.
 */
export function capSenderChangeRefusal(
  scope: ScopeRoot,
  current: { id: number; sender: string; areaId: number | null } | undefined,
  nextAreaId: number | null | undefined,
  accounts: ReadonlyArray<{ username: string; areaId: number | null }>,
  tree: AreaTree,
): ScopeRefusal | null {
  if (scope === null) return null;
  if (current && !withinScope(scope, current.areaId, tree)) return { kind: 'hidden', thing: 'cap_sender', id: String(current.id) };
  const placed = current === undefined ? (nextAreaId ?? null) : nextAreaId;
  if (placed === null) return { kind: 'forbidden', field: 'area', reason: 'an admin scoped to an area cannot register a network-wide sender: give an area inside your own' };
  if (placed !== undefined && !withinScope(scope, placed, tree)) return { kind: 'forbidden', field: 'area', reason: 'the area lies outside your own area' };
  const i = accounts.findIndex((a) => !withinScope(scope, a.areaId, tree));
  if (i >= 0) return { kind: 'forbidden', field: `accounts[${i}]`, reason: `user ${accounts[i]!.username} is not inside your area` };
  return null;
}
