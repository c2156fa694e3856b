import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capContentHash, classifyIncoming, statusHandling, type KnownAlert } from '../../server/alerts/cap/lifecycle.ts';
import { capKeyString, type CapAlert, type CapKey } from '../../server/alerts/cap/model.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';

const FIXTURES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/cap');
function load(name: string, edit: (s: string) => string = (s) => s): CapAlert {
  const r = parseCap(edit(readFileSync(path.join(FIXTURES, name), 'utf8')));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.alert;
}

/** A tiny in-memory store, as the shell would keep it. */
function store(...alerts: CapAlert[]) {
  const m = new Map<string, KnownAlert>();
  for (const a of alerts) {
    m.set(capKeyString(a), { key: { sender: a.sender, identifier: a.identifier }, sent: a.sent, contentHash: capContentHash(a), state: 'active', isActual: a.status === 'Actual' });
  }
  return (k: CapKey) => m.get(capKeyString(k));
}
const classify = (a: CapAlert, lookup: (k: CapKey) => KnownAlert | undefined) => classifyIncoming(a, capContentHash(a), lookup);

const ALERT = load('vn-lu-quet-bat-xat-alert.xml');
const UPDATE = load('vn-lu-quet-bat-xat-update.xml');
const CANCEL = load('vn-lu-quet-bat-xat-cancel.xml');
const KEY1 = { sender: 'pctt@laocai.gov.vn', identifier: 'LC-PCTT-2025-0917-LQ-001' };
const KEY2 = { sender: 'pctt@laocai.gov.vn', identifier: 'LC-PCTT-2025-0917-LQ-002' };

describe('CAP lifecycle', () => {
  it('a first alert is new and broadcast as real', () => {
    const o = classify(ALERT, store());
    expect(o).toMatchObject({ kind: 'new', store: true, handling: { isActual: true, broadcast: 'broadcast', preempts: true } });
  });

  it('the same message again (even re-indented) is a duplicate; changed content under the same key is a conflict', () => {
    const again = load('vn-lu-quet-bat-xat-alert.xml', (s) => s.replace(/\n\s+/g, '\n'));
    expect(classify(again, store(ALERT))).toMatchObject({ kind: 'duplicate', store: false, handling: { broadcast: 'none' } });
    const changed = load('vn-lu-quet-bat-xat-alert.xml', (s) => s.replace('<severity>Extreme</severity>', '<severity>Severe</severity>'));
    const o = classify(changed, store(ALERT));
    expect(o).toMatchObject({ kind: 'conflict', store: false, handling: { broadcast: 'none' } });
    expect(o.warnings[0]).toContain('different content');
  });

  it('the key is (sender, identifier): another sender with the same identifier is new', () => {
    const other = load('vn-lu-quet-bat-xat-alert.xml', (s) => s.replace('pctt@laocai.gov.vn', 'pctt@yenbai.gov.vn'));
    expect(classify(other, store(ALERT)).kind).toBe('new');
  });

  it('an Update whose reference resolves supersedes it and is broadcast', () => {
    const o = classify(UPDATE, store(ALERT));
    expect(o).toMatchObject({ kind: 'update', supersedes: [KEY1], unresolved: [], store: true, handling: { broadcast: 'broadcast' } });
    expect(o.warnings).toEqual([]);
  });

  it('a Cancel cancels every resolved reference and plays nothing; unknown ones are warned about', () => {
    expect(classify(CANCEL, store(ALERT, UPDATE))).toMatchObject({ kind: 'cancel', cancels: [KEY1, KEY2], handling: { broadcast: 'none' } });
    const partial = classify(CANCEL, store(ALERT));
    expect(partial).toMatchObject({ kind: 'cancel', cancels: [KEY1] });
    expect(partial.unresolved.map((r) => r.identifier)).toEqual(['LC-PCTT-2025-0917-LQ-002']);
    expect(partial.warnings.join()).toContain('LC-PCTT-2025-0917-LQ-002');
  });

  it('unresolved references: an Update stands as its own alert (broadcast), a Cancel is stored but stops nothing', () => {
    const u = classify(UPDATE, store());
    expect(u).toMatchObject({ kind: 'unresolved_reference', store: true, supersedes: [], handling: { broadcast: 'broadcast' } });
    expect(u.warnings.join()).toContain('handled as a new alert');
    const c = classify(CANCEL, store());
    expect(c).toMatchObject({ kind: 'unresolved_reference', store: true, cancels: [], handling: { broadcast: 'none' } });
  });

  it('a reference whose sent time differs still resolves, with a warning', () => {
    const u = load('vn-lu-quet-bat-xat-update.xml', (s) => s.replace('LQ-001,2025-09-17T04:10:00+07:00', 'LQ-001,2025-09-17T04:11:00+07:00'));
    const o = classify(u, store(ALERT));
    expect(o.kind).toBe('update');
    expect(o.warnings[0]).toContain('2025-09-17T04:11:00+07:00');
  });

  it('status: only Actual is real', () => {
    const test = load('vn-dien-tap-test.xml');
    expect(classify(test, store())).toMatchObject({ kind: 'new', handling: { isActual: false, broadcast: 'test_run', preempts: false } });
    const as = (status: string) => statusHandling({ ...ALERT, status: status as CapAlert['status'] });
    expect(as('Exercise')).toMatchObject({ isActual: false, broadcast: 'test_run', preempts: false });
    expect(as('Draft')).toMatchObject({ isActual: false, broadcast: 'refuse' });
    expect(as('System')).toMatchObject({ isActual: false, broadcast: 'none' });
    expect(as('Actual')).toMatchObject({ isActual: true, broadcast: 'broadcast', preempts: true });
  });

  it('a Test Cancel does not cancel an Actual alert, and an Actual Cancel does not cancel a test', () => {
    const testCancel = load('vn-lu-quet-bat-xat-cancel.xml', (x) => x.replace('<status>Actual</status>', '<status>Test</status>'));
    const o = classify(testCancel, store(ALERT, UPDATE));
    expect(o).toMatchObject({ kind: 'unresolved_reference', cancels: [] });
    expect(o.warnings.join()).toContain('is an Actual alert');
    const testAlert = load('vn-lu-quet-bat-xat-alert.xml', (x) => x.replace('<status>Actual</status>', '<status>Exercise</status>'));
    const testUpdate = load('vn-lu-quet-bat-xat-update.xml', (x) => x.replace('<status>Actual</status>', '<status>Exercise</status>'));
    expect(classify(testUpdate, store(testAlert))).toMatchObject({ kind: 'update', supersedes: [KEY1], handling: { broadcast: 'test_run' } });
    expect(classify(UPDATE, store(testAlert))).toMatchObject({ kind: 'unresolved_reference', supersedes: [] });
  });

  it('the content hash ignores whitespace in the XML but not content', () => {
    expect(capContentHash(load('vn-lu-quet-bat-xat-alert.xml', (s) => s.replace(/>\s+</g, '><')))).toBe(capContentHash(ALERT));
    expect(capContentHash(UPDATE)).not.toBe(capContentHash(ALERT));
  });

  it("a message never cancels, updates or collides with another sender's alert, even naming it in its references", () => {
    const asOther = (s: string) => s.replace('<sender>pctt@laocai.gov.vn</sender>', '<sender>ubnd@camduong.laocai.gov.vn</sender>');
    const lookups: string[] = [];
    const known = store(ALERT, UPDATE);
    const spy = (k: CapKey) => (lookups.push(k.sender), known(k));
    const cancel = classifyIncoming(load('vn-lu-quet-bat-xat-cancel.xml', asOther), 'h', spy);
    expect(cancel).toMatchObject({ kind: 'unresolved_reference', cancels: [], handling: { broadcast: 'none' } });
    expect(cancel.warnings.join(' ')).toContain("another sender's message");
    const update = classifyIncoming(load('vn-lu-quet-bat-xat-update.xml', asOther), 'h', spy);
    expect(update).toMatchObject({ kind: 'unresolved_reference', supersedes: [] });
    // The other sender's keys are never even looked up: a sender learns nothing about another's identifiers.
    expect(new Set(lookups)).toEqual(new Set(['ubnd@camduong.laocai.gov.vn']));
  });

  it('property: whatever the senders and references, only same-sender keys are ever resolved', () => {
    const sender = fc.constantFrom('a@x', 'b@x', 'pctt@laocai.gov.vn');
    fc.assert(
      fc.property(
        sender,
        fc.array(fc.tuple(sender, fc.constantFrom('LC-PCTT-2025-0917-LQ-001', 'LC-PCTT-2025-0917-LQ-002', 'X-1')), { minLength: 1, maxLength: 4 }),
        fc.constantFrom('Update', 'Cancel'),
        (me, refs, msgType) => {
          const known = store(ALERT, UPDATE);
          const refText = refs.map(([s, id]) => `${s},${id},2025-09-17T04:10:00+07:00`).join(' ');
          const msg = load('vn-lu-quet-bat-xat-cancel.xml', (s) =>
            s
              .replace('<sender>pctt@laocai.gov.vn</sender>', `<sender>${me}</sender>`)
              .replace(/<references>[^<]*<\/references>/, `<references>${refText}</references>`)
              .replace('<msgType>Cancel</msgType>', `<msgType>${msgType}</msgType>`),
          );
          const o = classify(msg, known);
          for (const k of [...o.cancels, ...o.supersedes]) expect(k.sender).toBe(me);
        },
      ),
      { numRuns: 200 },
    );
  });
});
