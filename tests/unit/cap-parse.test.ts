import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capTimeToMs, type CapAlert } from '../../server/alerts/cap/model.ts';
import { parseCap, type CapParseResult } from '../../server/alerts/cap/parse.ts';
import { decodeBase64Strict, decodeDerefUri } from '../../server/alerts/cap/resource.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURES = path.join(repoRoot, 'tests/fixtures/cap');

const read = (name: string) => readFileSync(path.join(FIXTURES, name));
function ok(r: CapParseResult): CapAlert {
  if (!r.ok) throw new Error(`refused: ${JSON.stringify(r.errors)}`);
  return r.alert;
}

/** How each public file is judged, and why. */
const VERDICTS: Record<string, 'accept' | 'refuse'> = {
  'google-PAAQ-4-mg5a94.xml': 'accept', // placeholder signature: signed, not verified
  'ipaws-5e6dd964023f1930ef638846.xml': 'accept', // ID3-tagged MP3
  'ipaws-5e6dd9de023f1930ef6548d9.xml': 'accept', // Cancel without info, real xmldsig signature
  'ipaws-5e6ddbad023f1930ef6c1a5a.xml': 'accept', // digest does not match derefUri: accepted, audio unused
  'ipaws-5e7e0fc5023f1930efcf3deb.xml': 'accept', // JPEG resource
  'ipaws-5ea321f39fc226a7b44b6874.xml': 'accept', // MP3 without ID3
  'nws-5c2cf27b1f56885d61654dc47fa411d5.xml': 'refuse', // CAP 1.1 namespace
  'v1dot2_appendix_adot1.xml': 'accept',
  'v1dot2_appendix_adot2.xml': 'accept',
  'v1dot2_appendix_adot3.xml': 'accept',
  'v1dot2_appendix_adot4.xml': 'accept',
  'vn-lu-quet-bat-xat-alert.xml': 'accept',
  'vn-lu-quet-bat-xat-update.xml': 'accept',
  'vn-lu-quet-bat-xat-cancel.xml': 'accept',
  'vn-sat-lo-muong-hum-circle.xml': 'accept',
  'vn-dien-tap-test.xml': 'accept',
  'vn-lu-quet-bat-xat-ngon-ngu.xml': 'accept',
};

describe('every CAP fixture is judged as its content deserves', () => {
  const files = readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.xml'))
    .sort();
  it('covers every fixture', () => {
    expect(files).toEqual(Object.keys(VERDICTS).sort());
  });
  for (const f of files) {
    it(`${f}: ${VERDICTS[f]}`, () => {
      const r = parseCap(read(f));
      expect(r.ok, JSON.stringify(r.ok ? r.warnings : r.errors)).toBe(VERDICTS[f] === 'accept');
    });
  }
  it('the public samples are the upstream files unchanged (SHA256SUMS, written when they were copied in)', () => {
    const sums = readFileSync(path.join(FIXTURES, 'SHA256SUMS'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/) as [string, string]);
    expect(sums.length).toBeGreaterThan(10);
    for (const [sum, f] of sums) expect(createHash('sha256').update(read(f)).digest('hex'), f).toBe(sum);
    // Every public sample has a verdict; only loanet's own vn-*.xml are not in the upstream list.
    const upstream = new Set(sums.map(([, f]) => f));
    expect(
      files.filter((f) => !upstream.has(f)).every((f) => f.startsWith('vn-')),
      files.join(' '),
    ).toBe(true);
  });
});

describe('the public samples, knowingly', () => {
  it('refuses the CAP 1.1 NWS message naming its namespace', () => {
    const r = parseCap(read('nws-5c2cf27b1f56885d61654dc47fa411d5.xml'));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([{ path: 'alert', message: expect.stringContaining('urn:oasis:names:tc:emergency:cap:1.1') }]);
  });

  it('accepts the Google tsunami Update with its placeholder signature as signed but unverified', () => {
    const r = parseCap(read('google-PAAQ-4-mg5a94.xml'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.signature).toEqual({ signed: true, verified: false, reason: 'signature verification not implemented', elements: 1 });
    expect(r.alert.msgType).toBe('Update');
    expect(r.alert.references).toHaveLength(3);
    expect(r.alert.references[0]).toEqual({ sender: 'wcatwc@noaa.gov', identifier: 'PAAQ-1-mg5a94', sent: '2013-01-05T09:01:16-00:00' });
    expect(r.alert.incidents).toEqual(['mg5a94']);
    expect(r.alert.info[0]!.area[0]!.circle).toEqual([{ center: [55.3, -134.9], radiusKm: 0 }]);
  });

  it('reads the spec examples: polygon rings, geocodes, two languages', () => {
    const a2 = ok(parseCap(read('v1dot2_appendix_adot2.xml')));
    const area = a2.info[0]!.area[0]!;
    expect(area.polygon[0]).toHaveLength(5);
    expect(area.polygon[0]![0]).toEqual([38.47, -120.14]);
    expect(area.geocode.map((g) => g.value)).toEqual(['006109', '006009', '006003']);
    expect(a2.info[0]!.language).toBe('en-US'); // CAP default when absent
    const a4 = ok(parseCap(read('v1dot2_appendix_adot4.xml')));
    expect(a4.info.map((i) => i.language)).toEqual(['en-US', 'es-US']);
    expect(a4.info[1]!.event).toBe('Abducción de Niño');
  });

  it('treats empty optional IPAWS elements as absent', () => {
    const a = ok(parseCap(read('ipaws-5e6ddbad023f1930ef6c1a5a.xml')));
    expect(a.source).toBeUndefined();
    expect(a.note).toBeUndefined();
    expect(a.info[0]!.instruction).toBeUndefined();
    expect(a.info[0]!.resource[0]!.size).toBe(98865);
  });

  for (const f of ['ipaws-5e6dd964023f1930ef638846.xml', 'ipaws-5ea321f39fc226a7b44b6874.xml']) {
    it(`${f}: the embedded MP3 decodes to bytes that start like an MP3`, () => {
      const r = ok(parseCap(read(f))).info[0]!.resource[0]!;
      expect(r.mimeType).toBe('audio/x-ipaws-audio-mp3');
      const d = decodeDerefUri(r);
      expect(d.ok).toBe(true);
      if (!d.ok) return;
      expect(d.bytes.length).toBeGreaterThan(10_000);
      expect(looksLikeMp3(d.bytes)).toBe(true);
    });
  }

  it('ipaws-5e6ddbad: decodes to MP3 frames, but its digest and size do not match, so the audio is not used', () => {
    const parsed = parseCap(read('ipaws-5e6ddbad023f1930ef6c1a5a.xml'));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.warnings).toEqual([{ path: 'alert/info[0]/resource[0]/digest', message: expect.stringContaining('does not match the SHA-1') }]);
    const r = parsed.alert.info[0]!.resource[0]!;
    expect(looksLikeMp3(decodeBase64Strict(r.derefUri!))).toBe(true);
    expect(decodeDerefUri(r)).toMatchObject({ ok: false, kind: 'digest_mismatch' });
  });

  it('reads the Vietnamese flash-flood alert with its diacritics intact', () => {
    const a = ok(parseCap(read('vn-lu-quet-bat-xat-alert.xml')));
    expect(a.sender).toBe('pctt@laocai.gov.vn');
    expect(a.info[0]!.event).toBe('Lũ quét');
    expect(a.info[0]!.headline).toBe('Cảnh báo khẩn cấp: nguy cơ lũ quét rất cao tại xã Bát Xát');
    expect(a.info[0]!.area[0]!.geocode).toEqual([{ valueName: 'VN-ADMIN', value: '02683' }]);
    expect(capTimeToMs(a.sent)).toBe(Date.UTC(2025, 8, 16, 21, 10, 0));
  });
});

function looksLikeMp3(b: Uint8Array): boolean {
  const id3 = b[0] === 0x49 && b[1] === 0x44 && b[2] === 0x33;
  const sync = b[0] === 0xff && (b[1]! & 0xe0) === 0xe0;
  return id3 || sync;
}

const BASE = read('vn-lu-quet-bat-xat-alert.xml').toString('utf8');
function errorsOf(xml: string) {
  const r = parseCap(xml);
  return r.ok ? [] : r.errors;
}

describe('validation names the element at fault', () => {
  it('enumerations', () => {
    expect(errorsOf(BASE.replace('<urgency>Immediate</urgency>', '<urgency>Soon</urgency>'))).toEqual([
      { path: 'alert/info[0]/urgency', message: '"Soon" is not one of Immediate, Expected, Future, Past, Unknown' },
    ]);
    expect(errorsOf(BASE.replace('<status>Actual</status>', '<status>actual</status>'))[0]!.path).toBe('alert/status');
    expect(errorsOf(BASE.replace('<category>Geo</category>', '<category>Flood</category>'))[0]!.path).toBe('alert/info[0]/category[1]');
    expect(errorsOf(BASE.replace('<responseType>Evacuate</responseType>', '<responseType>Run</responseType>'))[0]!.path).toBe('alert/info[0]/responseType[0]');
  });

  it('required elements', () => {
    expect(errorsOf(BASE.replace(/<sender>.*<\/sender>/, ''))).toEqual([{ path: 'alert/sender', message: 'is required' }]);
    expect(errorsOf(BASE.replace(/<event>.*<\/event>/, ''))).toEqual([{ path: 'alert/info[0]/event', message: 'is required' }]);
    expect(errorsOf(BASE.replace(/<areaDesc>.*<\/areaDesc>/, ''))).toEqual([{ path: 'alert/info[0]/area[0]/areaDesc', message: 'is required' }]);
    expect(errorsOf(BASE.replace('<msgType>Alert</msgType>', '<msgType>Alert</msgType><msgType>Alert</msgType>'))[0]!.path).toBe('alert/msgType');
  });

  it('dateTime needs a numeric zone; "Z" is refused as the spec says', () => {
    const z = errorsOf(BASE.replace('<sent>2025-09-17T04:10:00+07:00</sent>', '<sent>2025-09-16T21:10:00Z</sent>'));
    expect(z).toEqual([{ path: 'alert/sent', message: expect.stringContaining('"-00:00" for UTC') }]);
    expect(errorsOf(BASE.replace('<expires>2025-09-17T12:00:00+07:00</expires>', '<expires>2025-02-30T12:00:00+07:00</expires>'))[0]!.path).toBe('alert/info[0]/expires');
    expect(errorsOf(BASE.replace('2025-09-17T04:10:00+07:00</sent>', '2025-09-17T04:10:00.5+07:00</sent>'))[0]!.path).toBe('alert/sent');
    expect(errorsOf(BASE.replace('2025-09-17T04:10:00+07:00</sent>', '2025-09-17T04:10:00-00:00</sent>'))).toEqual([]);
  });

  it('scope, references and key characters', () => {
    expect(errorsOf(BASE.replace('<scope>Public</scope>', '<scope>Restricted</scope>'))).toEqual([{ path: 'alert/restriction', message: 'is required when scope is Restricted' }]);
    expect(errorsOf(BASE.replace('<scope>Public</scope>', '<scope>Private</scope>'))).toEqual([{ path: 'alert/addresses', message: 'is required when scope is Private' }]);
    expect(errorsOf(BASE.replace('<msgType>Alert</msgType>', '<msgType>Update</msgType>'))).toEqual([{ path: 'alert/references', message: 'is required when msgType is Update' }]);
    expect(errorsOf(BASE.replace('<msgType>Alert</msgType>', '<msgType>Cancel</msgType><references>a,b</references>'))[0]!.path).toBe('alert/references');
    expect(errorsOf(BASE.replace('LC-PCTT-2025-0917-LQ-001', 'LC PCTT'))[0]!.path).toBe('alert/identifier');
  });

  it('geometry', () => {
    const withArea = (inner: string) => BASE.replace(/<geocode>[\s\S]*?<\/geocode>/, inner);
    expect(errorsOf(withArea('<polygon>22.5,103.8 22.6,103.9 22.5,103.9 22.5,103.8</polygon>'))).toEqual([]);
    expect(errorsOf(withArea('<polygon>22.5,103.8 22.6,103.9 22.5,103.9 22.4,103.8</polygon>'))).toEqual([
      { path: 'alert/info[0]/area[0]/polygon[0]', message: 'is not closed: the first and last points must be the same' },
    ]);
    expect(errorsOf(withArea('<polygon>22.5,103.8 22.6,103.9 22.5,103.8</polygon>'))[0]!.message).toContain('at least 4');
    expect(errorsOf(withArea('<polygon></polygon>'))[0]!.path).toBe('alert/info[0]/area[0]/polygon[0]');
    expect(errorsOf(withArea('<polygon>95,103.8 22.6,103.9 22.5,103.9 95,103.8</polygon>'))[0]!.message).toContain('WGS 84');
    expect(errorsOf(withArea('<circle>22.5,103.8 -1</circle>'))).toEqual([{ path: 'alert/info[0]/area[0]/circle[0]', message: 'radius -1 km is negative' }]);
    expect(errorsOf(withArea('<circle>22.5 103.8 1</circle>'))[0]!.path).toBe('alert/info[0]/area[0]/circle[0]');
    expect(errorsOf(withArea('<ceiling>100</ceiling>'))[0]!.message).toBe('may only be used with altitude');
  });

  it('embedded resources', () => {
    const res = (inner: string) => BASE.replace('<area>', `<resource><resourceDesc>Bản tin</resourceDesc><mimeType>audio/mpeg</mimeType>${inner}</resource><area>`);
    expect(errorsOf(res('<derefUri>SUQzAw==</derefUri>'))).toEqual([]);
    expect(errorsOf(res('<derefUri>SUQz!w==</derefUri>'))).toEqual([{ path: 'alert/info[0]/resource[0]/derefUri', message: 'derefUri is not valid base64' }]);
    // SHA-1 of "ID3\x03"
    const r = parseCap(res('<derefUri>SUQzAw==</derefUri><digest>0000000000000000000000000000000000000000</digest>'));
    expect(r.ok && r.warnings[0]!.path).toBe('alert/info[0]/resource[0]/digest');
  });

  it('namespaces: prefixes are fine, wrong or missing namespace is refused, DOCTYPE refused', () => {
    const prefixed = BASE.replace(/<(\/?)([A-Za-z]+)([\s>])/g, '<$1cap:$2$3').replace('<cap:alert xmlns=', '<cap:alert xmlns:cap=');
    expect(parseCap(prefixed).ok).toBe(true);
    expect(errorsOf(BASE.replace(' xmlns="urn:oasis:names:tc:emergency:cap:1.2"', ''))[0]!.message).toContain('no namespace');
    expect(errorsOf(BASE.replace('cap:1.2"', 'cap:1.3"'))[0]!.message).toContain('urn:oasis:names:tc:emergency:cap:1.3');
    expect(errorsOf(`<!DOCTYPE alert [<!ENTITY a "aaaa">]>${BASE.replace(/^<\?xml[^>]*>/, '')}`)[0]!.message).toContain('DOCTYPE');
    expect(errorsOf(BASE.replace('</alert>', ''))[0]!.message).toContain('not well-formed');
    expect(errorsOf(BASE.replace('<scope>Public</scope>', '<scope>Public</scope><urgancy>x</urgancy>'))[0]!.path).toBe('alert/urgancy');
  });

  it('bytes: read in the encoding they declare, UTF-8 by default; an unknown encoding is refused naming it', () => {
    const r = parseCap(new Uint8Array([0x3c, 0x61, 0xff, 0x3e]));
    expect(r.ok).toBe(false);
    expect(parseCap(Buffer.from(BASE.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"'), 'latin1')).ok).toBe(true);
    const unknown = parseCap(Buffer.from(BASE.replace('encoding="UTF-8"', 'encoding="x-unknown-8"')));
    expect(unknown.ok ? [] : unknown.errors[0]!.message).toContain('"x-unknown-8"');
  });
});

describe('never throws', () => {
  it('on random strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.uint8Array()), (s) => {
        const r = parseCap(s);
        expect(typeof r.ok).toBe('boolean');
      }),
      { numRuns: 500 },
    );
  });

  const SEEDS = ['v1dot2_appendix_adot2.xml', 'google-PAAQ-4-mg5a94.xml', 'vn-lu-quet-bat-xat-update.xml', 'ipaws-5e6dd9de023f1930ef6548d9.xml'].map((f) =>
    read(f).toString('utf8'),
  );
  it('on mutated real files', () => {
    const mutation = fc.record({
      seed: fc.integer({ min: 0, max: SEEDS.length - 1 }),
      edits: fc.array(
        fc.record({
          at: fc.nat(),
          del: fc.nat({ max: 12 }),
          ins: fc.oneof(fc.constantFrom('<', '>', '/', '&', '"', '<info>', '</area>', ' ', ',', 'Z', '-', '<![CDATA[', 'xmlns="x"'), fc.string({ maxLength: 6 })),
        }),
        { minLength: 1, maxLength: 6 },
      ),
    });
    fc.assert(
      fc.property(mutation, ({ seed, edits }) => {
        let s = SEEDS[seed]!;
        for (const e of edits) {
          const at = e.at % (s.length + 1);
          s = s.slice(0, at) + e.ins + s.slice(at + e.del);
        }
        const r = parseCap(s);
        if (!r.ok) for (const e of r.errors) expect(typeof e.path === 'string' && e.message.length > 0).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
