/** What the alert publisher puts on the wire, and whom it owes a re-announcement (server/alerts/publisher.ts), pure. */
import { describe, expect, it } from 'vitest';
import { decodeAlertControl, encodeJson } from '../../protocol/index.ts';
import { pendingDelivery, type Alert, type Delivery } from '../../server/alerts/model.ts';
import { alertStartMessage, announcementsOwed, type LiveAlertView } from '../../server/alerts/publisher.ts';
import type { RetainedPlan } from '../../server/alerts/retained.ts';
import { ALERT_T0, alertFixture } from '../helpers/alert-fixture.ts';

const T0 = ALERT_T0;

const alert = alertFixture;

function live(a: Alert, rows: Delivery[]): LiveAlertView {
  return { alert: a, rows: new Map(rows.map((r) => [r.siteId, r])) };
}

describe('alert_start of an alert', () => {
  it('carries the current revision and its audio, and decodes as the agents decode it', () => {
    const m = alertStartMessage(alert({ revision: 2, revisedAt: T0 + 60_000, volume: 80 }));
    expect(m).toMatchObject({
      v: 1,
      type: 'alert_start',
      alertId: 'alr-0123456789abcdef',
      revision: 2,
      areas: ['2025.02683'],
      media: { mediaId: 'med-1' },
      volume: 80,
      at: T0 + 60_000,
    });
    expect(m).not.toHaveProperty('messageState');
    expect(m).not.toHaveProperty('sites');
    expect(decodeAlertControl.decode(encodeJson(m)).ok).toBe(true);
  });

  it('says priority only for an advisory: an emergency alert reads as it did before the field existed', () => {
    expect(alertStartMessage(alert())).not.toHaveProperty('priority');
    const advisory = alertStartMessage(alert({ priority: 'priority', attention: 'chime' }));
    expect(advisory).toMatchObject({ priority: 'priority', attention: 'chime' });
    expect(decodeAlertControl.decode(encodeJson(advisory)).ok).toBe(true);
  });

  it('without audio says whether it is still being made or could not be; a site filter and no volume are as given', () => {
    const preparing = alertStartMessage(alert({ media: null, messageState: 'preparing', sites: ['bx-1'] }));
    expect(preparing).toMatchObject({ messageState: 'preparing', sites: ['bx-1'] });
    expect(preparing).not.toHaveProperty('media');
    expect(preparing).not.toHaveProperty('volume');
    expect(alertStartMessage(alert({ media: null, messageState: 'failed' }))).toMatchObject({ messageState: 'failed' });
    expect(decodeAlertControl.decode(encodeJson(preparing)).ok).toBe(true);
  });

  it('cuts a long title to 200 characters', () => {
    expect(alertStartMessage(alert({ title: 'ư'.repeat(300) })).title).toHaveLength(200);
  });
});

describe('a site that comes online is owed', () => {
  const older = alert({ id: 'alr-older', revisedAt: T0 });
  const newer = alert({ id: 'alr-newer', revisedAt: T0 + 1000 });
  const plan: RetainedPlan = new Map([['2025.02683', { id: 'alr-newer', revision: 1 }]]);
  const channels = () => ['2025.15', '2025.02683'];

  it('the older valid alert it has not confirmed, on its channel; not the one holding the retained slot', () => {
    const alerts = [live(older, [pendingDelivery('alr-older', 'bx-1', 1)]), live(newer, [pendingDelivery('alr-newer', 'bx-1', 1)])];
    expect(announcementsOwed('bx-1', alerts, channels, plan)).toEqual([{ alertId: 'alr-older', channel: '2025.02683' }]);
  });

  it('nothing for an alert it already plays, one it is not a target of, or one that ended', () => {
    const playing = { ...pendingDelivery('alr-older', 'bx-1', 1), status: 'playing' as const };
    expect(announcementsOwed('bx-1', [live(older, [playing])], channels, plan)).toEqual([]);
    expect(announcementsOwed('bx-1', [live(older, [pendingDelivery('alr-older', 'cd-1', 1)])], channels, plan)).toEqual([]);
    expect(announcementsOwed('bx-1', [live({ ...older, state: 'cancelled' }, [pendingDelivery('alr-older', 'bx-1', 1)])], channels, plan)).toEqual([]);
  });

  it('a received but silent site is owed it again; a site on none of its channels is not', () => {
    const received = { ...pendingDelivery('alr-older', 'bx-1', 1), status: 'received' as const };
    expect(announcementsOwed('bx-1', [live(older, [received])], channels, plan)).toEqual([{ alertId: 'alr-older', channel: '2025.02683' }]);
    expect(announcementsOwed('bx-1', [live(older, [received])], () => ['2025.02671'], plan)).toEqual([]);
  });

  it('an agent that refuses versions is owed again an alert with versions that holds its slot; the others are not', () => {
    const hmn = { mediaId: 'med-2', sha256: 'b'.repeat(64), bytes: 900, durationMs: 4000 };
    const withVersion = alert({
      id: 'alr-newer',
      revisedAt: T0 + 1000,
      versions: [{ language: 'hmn', source: 'media', mediaId: 'med-2', media: hmn, state: 'ready', reason: null }],
    });
    const preparing = alert({
      id: 'alr-newer',
      revisedAt: T0 + 1000,
      versions: [{ language: 'hmn', source: 'tts', mediaId: 'med-2', media: null, state: 'preparing', reason: null }],
    });
    const rows = [pendingDelivery('alr-newer', 'bx-1', 1)];
    // It holds the slot: the broker delivers the copy; only an agent that refused it (it had versions) is owed it again.
    expect(announcementsOwed('bx-1', [live(withVersion, rows)], channels, plan)).toEqual([]);
    expect(announcementsOwed('bx-1', [live(withVersion, rows)], channels, plan, true)).toEqual([{ alertId: 'alr-newer', channel: '2025.02683' }]);
    // No version ready: the retained copy had none, nothing was refused.
    expect(announcementsOwed('bx-1', [live(preparing, rows)], channels, plan, true)).toEqual([]);
    // An older alert is owed the same with or without the flag, and the site's channels are asked once.
    let asked = 0;
    const both = [live(older, [pendingDelivery('alr-older', 'bx-1', 1)]), live(withVersion, rows)];
    expect(announcementsOwed('bx-1', both, () => (asked++, channels()), plan, true)).toEqual([
      { alertId: 'alr-older', channel: '2025.02683' },
      { alertId: 'alr-newer', channel: '2025.02683' },
    ]);
    expect(asked).toBe(1);
  });

  it('asks for the site channels only when some alert concerns it', () => {
    let asked = 0;
    announcementsOwed('bx-1', [live(older, [pendingDelivery('alr-older', 'cd-1', 1)])], () => (asked++, channels()), plan);
    expect(asked).toBe(0);
  });
});
