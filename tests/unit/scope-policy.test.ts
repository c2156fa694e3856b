/**
 * The area-scope policy (server/auth/scope-policy.ts), pure: fixed cases of
 * a province / two districts / communes, and properties over random trees
 * and random requests — a scoped actor can never place anything outside its
 * subtree, never make anything network-wide, never change its own root.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  alertVisible,
  areaChangeRefusal,
  areaCreateRefusal,
  auditVisible,
  capPlaceRefusal,
  capSenderChangeRefusal,
  siteRefusal,
  userChangeRefusal,
  withinScope,
  type AreaTree,
} from '../../server/auth/scope-policy.ts';

/** A tree from a parent array: parent[i] < i, or -1 for a root. */
function treeOf(parent: readonly number[]): AreaTree {
  return {
    isInSubtree(id, ancestorId) {
      for (let cur = id; cur >= 0 && cur < parent.length; cur = parent[cur]!) if (cur === ancestorId) return true;
      return false;
    },
  };
}

// 0 province; 1, 2 districts; 3, 4 communes of district 1; 5 commune of district 2; 6 village of 3.
const TREE = treeOf([-1, 0, 0, 1, 1, 2, 3]);
const A = 3; // commune A
const B = 4; // commune B

describe('fixed cases', () => {
  it('a commune-B admin cannot create a network-wide user, nor one in commune A; it can inside B', () => {
    const actor = { id: 10, scope: B };
    expect(userChangeRefusal(actor, undefined, null, TREE)).toMatchObject({ kind: 'forbidden', field: 'area' });
    expect(userChangeRefusal(actor, undefined, undefined, TREE)).toMatchObject({ kind: 'forbidden', field: 'area' });
    expect(userChangeRefusal(actor, undefined, A, TREE)).toMatchObject({ kind: 'forbidden', field: 'area' });
    expect(userChangeRefusal(actor, undefined, B, TREE)).toBeNull();
  });

  it('a commune-B admin cannot clear or widen its own area, nor touch an admin of A or a network-wide one', () => {
    const actor = { id: 10, scope: B };
    expect(userChangeRefusal(actor, { id: 10, areaId: B }, null, TREE)).toMatchObject({ kind: 'forbidden' });
    expect(userChangeRefusal(actor, { id: 10, areaId: B }, 1, TREE)).toMatchObject({ kind: 'forbidden' });
    expect(userChangeRefusal(actor, { id: 11, areaId: A }, undefined, TREE)).toEqual({ kind: 'hidden', thing: 'user', id: '11' });
    expect(userChangeRefusal(actor, { id: 1, areaId: null }, undefined, TREE)).toEqual({ kind: 'hidden', thing: 'user', id: '1' });
    expect(userChangeRefusal({ id: 1, scope: null }, { id: 10, areaId: B }, null, TREE)).toBeNull();
  });

  it('areas: create under its root or below, never top-level or elsewhere; change only strictly inside', () => {
    expect(areaCreateRefusal(A, A, TREE)).toBeNull();
    expect(areaCreateRefusal(A, 6, TREE)).toBeNull();
    expect(areaCreateRefusal(A, null, TREE)).toMatchObject({ field: 'parent' });
    expect(areaCreateRefusal(A, B, TREE)).toMatchObject({ field: 'parent' });
    expect(areaChangeRefusal(A, A, undefined, TREE, 'a')).toMatchObject({ kind: 'forbidden', field: 'key' });
    expect(areaChangeRefusal(A, 6, undefined, TREE, 'v')).toBeNull();
    expect(areaChangeRefusal(A, 6, B, TREE, 'v')).toMatchObject({ kind: 'forbidden', field: 'parent' });
    expect(areaChangeRefusal(A, B, undefined, TREE, 'b')).toEqual({ kind: 'hidden', thing: 'area', id: 'b' });
    expect(areaChangeRefusal(null, 0, undefined, TREE, 'p')).toBeNull();
  });

  it('sites: moved only from and to inside the scope', () => {
    expect(siteRefusal(A, 's', 6, A, TREE)).toBeNull();
    expect(siteRefusal(A, 's', 6, B, TREE)).toMatchObject({ kind: 'forbidden', field: 'area' });
    expect(siteRefusal(A, 's', B, A, TREE)).toEqual({ kind: 'hidden', thing: 'site', id: 's' });
  });

  it('alerts: visible when the targets intersect the scope; a drawn alert only by its sites', () => {
    expect(alertVisible(A, { areaIds: [0], siteAreaIds: null }, TREE)).toBe(true); // a province alert reaches commune A
    expect(alertVisible(A, { areaIds: [B], siteAreaIds: null }, TREE)).toBe(false);
    expect(alertVisible(A, { areaIds: [1], siteAreaIds: [B] }, TREE)).toBe(false); // drawn in district 1, its sites all in B
    expect(alertVisible(A, { areaIds: [1], siteAreaIds: [B, 6] }, TREE)).toBe(true);
    expect(alertVisible(null, { areaIds: [B], siteAreaIds: null }, TREE)).toBe(true);
  });

  it('audit: by the actor inside, or a target inside; never the system nor network-wide users about others', () => {
    expect(auditVisible(A, { actorAreaId: 6, targetAreaId: undefined }, TREE)).toBe(true);
    expect(auditVisible(A, { actorAreaId: null, targetAreaId: A }, TREE)).toBe(true);
    expect(auditVisible(A, { actorAreaId: null, targetAreaId: B }, TREE)).toBe(false);
    expect(auditVisible(A, { actorAreaId: undefined, targetAreaId: undefined }, TREE)).toBe(false);
  });

  it('CAP place: checked against every scope, counting what is outside, and refusing what cannot be placed', () => {
    const scopes = (caller: number | null, sender: number | null) => [
      { scope: caller, label: 'your area' },
      { scope: sender, label: 'the sender area' },
    ];
    expect(capPlaceRefusal(scopes(B, null), { areaIds: [0], siteAreaIds: [], hasArea: true }, TREE)).toBe('1 <area> geocode(s) of the message lie outside your area');
    expect(capPlaceRefusal(scopes(null, A), { areaIds: [], siteAreaIds: [B, B], hasArea: true }, TREE)).toBe(
      "2 site(s) inside the message's polygons or circles lie outside the sender area",
    );
    expect(capPlaceRefusal(scopes(B, null), { areaIds: [], siteAreaIds: [], hasArea: true }, TREE)).toMatch(/cannot be shown/);
    expect(capPlaceRefusal(scopes(B, B), { areaIds: [], siteAreaIds: [], hasArea: false }, TREE)).toBeNull();
    expect(capPlaceRefusal(scopes(null, null), { areaIds: [], siteAreaIds: [], hasArea: true }, TREE)).toBeNull();
    expect(capPlaceRefusal(scopes(1, A), { areaIds: [6], siteAreaIds: [A], hasArea: true }, TREE)).toBeNull();
  });

  it('CAP senders: a scoped admin registers them only inside its area, with accounts inside it', () => {
    expect(capSenderChangeRefusal(B, undefined, null, [], TREE)).toMatchObject({ kind: 'forbidden', field: 'area' });
    expect(capSenderChangeRefusal(B, undefined, A, [], TREE)).toMatchObject({ kind: 'forbidden', field: 'area' });
    expect(capSenderChangeRefusal(B, undefined, B, [{ username: 'x', areaId: A }], TREE)).toMatchObject({ kind: 'forbidden', field: 'accounts[0]' });
    expect(capSenderChangeRefusal(B, { id: 1, sender: 'tinh', areaId: null }, undefined, [], TREE)).toEqual({ kind: 'hidden', thing: 'cap_sender', id: '1' });
    expect(capSenderChangeRefusal(B, undefined, B, [{ username: 'y', areaId: B }], TREE)).toBeNull();
  });
});

/** Random forests of up to 12 areas: parent[i] is -1 or an earlier area. */
const forest = fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => (i === 0 ? fc.constant(-1) : fc.integer({ min: -1, max: i - 1 })))));
const areaOrNull = (n: number) => fc.option(fc.integer({ min: 0, max: n - 1 }), { nil: null });

describe('properties over random trees', () => {
  it('a scoped actor never places a user outside its subtree, nor makes one network-wide, nor touches users outside', () => {
    fc.assert(
      fc.property(
        forest.chain((parent) =>
          fc.tuple(
            fc.constant(parent),
            fc.integer({ min: 0, max: parent.length - 1 }),
            fc.option(fc.record({ id: fc.nat(5), areaId: areaOrNull(parent.length) })),
            fc.option(areaOrNull(parent.length), { nil: undefined }),
          ),
        ),
        ([parent, scope, target, next]) => {
          const tree = treeOf(parent);
          const r = userChangeRefusal({ id: 0, scope }, target ?? undefined, next, tree);
          if (r !== null) return;
          if (target) expect(withinScope(scope, target.areaId, tree)).toBe(true);
          const placed = target ? next : (next ?? null);
          if (placed !== undefined) {
            expect(placed).not.toBeNull();
            expect(tree.isInSubtree(placed!, scope)).toBe(true);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a scoped admin never changes its own root or anything outside, and moves only under parents inside', () => {
    fc.assert(
      fc.property(
        forest.chain((parent) =>
          fc.tuple(
            fc.constant(parent),
            fc.integer({ min: 0, max: parent.length - 1 }),
            fc.integer({ min: 0, max: parent.length - 1 }),
            fc.option(fc.integer({ min: 0, max: parent.length - 1 }), { nil: undefined }),
          ),
        ),
        ([parent, scope, area, newParent]) => {
          const tree = treeOf(parent);
          if (areaChangeRefusal(scope, area, newParent, tree, 'k') !== null) return;
          expect(area).not.toBe(scope);
          expect(tree.isInSubtree(area, scope)).toBe(true);
          if (newParent !== undefined) expect(tree.isInSubtree(newParent, scope)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a CAP message passes only when every matched area and site lies inside every scoped actor and sender', () => {
    fc.assert(
      fc.property(
        forest.chain((parent) =>
          fc.tuple(
            fc.constant(parent),
            areaOrNull(parent.length),
            areaOrNull(parent.length),
            fc.array(fc.integer({ min: 0, max: parent.length - 1 }), { maxLength: 4 }),
            fc.array(fc.integer({ min: 0, max: parent.length - 1 }), { maxLength: 4 }),
            fc.boolean(),
          ),
        ),
        ([parent, caller, sender, areaIds, siteAreaIds, hasArea]) => {
          const tree = treeOf(parent);
          const why = capPlaceRefusal(
            [
              { scope: caller, label: 'a' },
              { scope: sender, label: 'b' },
            ],
            { areaIds, siteAreaIds, hasArea },
            tree,
          );
          const inside = (s: number | null) =>
            s === null || !hasArea || (areaIds.length + siteAreaIds.length > 0 && [...areaIds, ...siteAreaIds].every((a) => tree.isInSubtree(a, s)));
          expect(why === null).toBe(inside(caller) && inside(sender));
        },
      ),
      { numRuns: 500 },
    );
  });
});
