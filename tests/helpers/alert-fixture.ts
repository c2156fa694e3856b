/**
 * An alert as the server holds it (server/alerts/model.ts), for the unit
 * tests of the alert decisions: a flood warning on Xã Bát Xát, sent at
 * ALERT_T0 (06:10 on 28/11 in Lào Cai), its message ready, valid an hour.
 * Each test overrides what it is about.
 */
import type { Alert } from '../../server/alerts/model.ts';

export const ALERT_T0 = Date.UTC(2026, 10, 27, 23, 10, 0);

export function alertFixture(over: Partial<Alert> = {}): Alert {
  return {
    id: 'alr-0123456789abcdef',
    revision: 1,
    state: 'active',
    test: false,
    priority: 'emergency',
    origin: 'api',
    title: 'Lũ quét',
    targetAreas: ['2025.02683'],
    areas: ['2025.02683'],
    sites: null,
    polygon: null,
    media: { mediaId: 'med-1', sha256: 'a'.repeat(64), bytes: 1000, durationMs: 5000 },
    message: { kind: 'media', mediaId: 'med-1' },
    messageState: 'ready',
    messageReason: null,
    attention: 'siren',
    repeats: 3,
    volume: null,
    validUntil: ALERT_T0 + 3600_000,
    createdBy: 1,
    createdByName: 'khan-cap',
    createdAt: ALERT_T0,
    revisedAt: ALERT_T0,
    endedAt: null,
    endedByName: null,
    cap: null,
    ...over,
  };
}
