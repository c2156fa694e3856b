/**
 * Who may post CAP under a sender (capSenderDecision, pure): bound users with
 * any credential, a bound API token only with that token, a network-wide
 * admin always; everyone else refused, naming the sender.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capSenderDecision, type CapPoster, type CapSender } from '../../server/alerts/cap-senders.ts';

const sender = (accounts: Array<{ userId: number; tokenId: number | null }>, areaId: number | null = 7): CapSender => ({
  id: 1,
  sender: 'pctt@laocai.gov.vn',
  areaId,
  note: null,
  createdAt: 0,
  updatedAt: 0,
  accounts: accounts.map((a, i) => ({ id: i + 1, username: `u${a.userId}`, ...a })),
});
const poster = (p: Partial<CapPoster>): CapPoster => ({ userId: 5, role: 'emergency', areaId: 3, tokenId: 100, tokenKind: 'session', ...p });

describe('capSenderDecision', () => {
  it('a bound user posts with any credential and gets the sender area', () => {
    expect(capSenderDecision('pctt@laocai.gov.vn', sender([{ userId: 5, tokenId: null }]), poster({}))).toEqual({ ok: true, senderAreaId: 7 });
  });

  it("a token binding admits that API token only, not the user's session", () => {
    const s = sender([{ userId: 5, tokenId: 42 }]);
    expect(capSenderDecision(s.sender, s, poster({ tokenId: 42, tokenKind: 'api' })).ok).toBe(true);
    expect(capSenderDecision(s.sender, s, poster({ tokenId: 42, tokenKind: 'session' })).ok).toBe(false);
    expect(capSenderDecision(s.sender, s, poster({ tokenId: 43, tokenKind: 'api' })).ok).toBe(false);
  });

  it('an unbound user, or anyone on an unregistered sender, is refused naming the sender; a network-wide admin is not', () => {
    const refused = capSenderDecision('pctt@laocai.gov.vn', sender([{ userId: 6, tokenId: null }]), poster({}));
    expect(refused).toMatchObject({ ok: false, reason: expect.stringContaining('pctt@laocai.gov.vn') });
    expect(capSenderDecision('x@y', undefined, poster({ role: 'emergency', areaId: null })).ok).toBe(false);
    expect(capSenderDecision('x@y', undefined, poster({ role: 'admin', areaId: 3 })).ok).toBe(false);
    expect(capSenderDecision('x@y', undefined, poster({ role: 'admin', areaId: null }))).toEqual({ ok: true, senderAreaId: null });
    // A network-wide admin under a registered sender is still held to its area.
    expect(capSenderDecision('pctt@laocai.gov.vn', sender([]), poster({ role: 'admin', areaId: null }))).toEqual({ ok: true, senderAreaId: 7 });
  });

  it('property: allowed exactly when bound (user-wide, or this API token) or a network-wide admin', () => {
    const account = fc.record({ userId: fc.integer({ min: 1, max: 4 }), tokenId: fc.option(fc.integer({ min: 1, max: 4 }), { nil: null }) });
    const who = fc.record({
      userId: fc.integer({ min: 1, max: 4 }),
      role: fc.constantFrom('admin', 'emergency', 'operator'),
      areaId: fc.option(fc.integer({ min: 1, max: 3 }), { nil: null }),
      tokenId: fc.integer({ min: 1, max: 4 }),
      tokenKind: fc.constantFrom('session' as const, 'api' as const),
    });
    fc.assert(
      fc.property(fc.option(fc.array(account, { maxLength: 4 }), { nil: undefined }), who, (accounts, p) => {
        const s = accounts ? sender(accounts) : undefined;
        const d = capSenderDecision('s', s, p);
        const admin = p.role === 'admin' && p.areaId === null;
        const bound = (accounts ?? []).some((a) => a.userId === p.userId && (a.tokenId === null || (p.tokenKind === 'api' && a.tokenId === p.tokenId)));
        expect(d.ok).toBe(admin || bound);
        if (d.ok) expect(d.senderAreaId).toBe(s ? s.areaId : null);
      }),
      { numRuns: 500 },
    );
  });
});
