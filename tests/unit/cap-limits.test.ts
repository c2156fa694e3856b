/**
 * CAP documents and alert geometry under hostile sizes: every limit refuses
 * naming itself, nothing throws, base64 is checked without backtracking, and
 * the indexed polygon matcher gives exactly the answer of ray casting.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileRing, GEOMETRY_LIMITS, pointInPolygon, sitesInRing } from '../../server/alerts/cap/area-match.ts';
import { CAP_LIMITS, parsesInline } from '../../server/alerts/cap/limits.ts';
import type { LatLon } from '../../server/alerts/cap/model.ts';
import { parseCapOffThread } from '../../server/alerts/cap/parse-offthread.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';
import { decodeDerefUri, isStrictBase64 } from '../../server/alerts/cap/resource.ts';
import { closeRing, DRAWN_POLYGON_MAX_POINTS, polygonProblem, sitesInPolygon } from '../../server/alerts/targets.ts';

const BASE = readFileSync(path.resolve(import.meta.dirname, '../fixtures/cap/vn-lu-quet-bat-xat-alert.xml'), 'utf8');

/** A closed ring of `n` points (first = last) on a circle around Bát Xát. */
function ringText(n: number, lat = 22.5, lon = 103.8, r = 0.3): string {
  const pts: string[] = [];
  for (let i = 0; i < n - 1; i++) {
    const a = (2 * Math.PI * i) / (n - 1);
    pts.push(`${(lat + r * Math.sin(a)).toFixed(5)},${(lon + r * Math.cos(a)).toFixed(5)}`);
  }
  pts.push(pts[0]!);
  return pts.join(' ');
}
const withArea = (inner: string) => BASE.replace(/<geocode>[\s\S]*?<\/geocode>/, inner);
const withAudio = (bytes: number) =>
  BASE.replace(
    '</info>',
    `<resource><resourceDesc>Thông báo</resourceDesc><mimeType>audio/mpeg</mimeType><derefUri>${Buffer.alloc(bytes, 0x55).toString('base64').replace(/.{76}/g, '$&\n')}</derefUri></resource></info>`,
  );
const errors = (xml: string) => {
  const r = parseCap(xml);
  return r.ok ? [] : r.errors;
};

describe('CAP limits', () => {
  it('are 10 MiB and 20,000 tags per document, 5 MiB per embedded resource, 4,000 points per polygon, 500 shapes and 40,000 points per alert', () => {
    expect(CAP_LIMITS).toEqual({ documentBytes: 10 * 1024 * 1024, resourceBytes: 5 * 1024 * 1024, inlineParseBytes: 64 * 1024, inlineParseTags: 600, documentTags: 20_000 });
    expect(GEOMETRY_LIMITS).toEqual({ polygonPoints: 4000, shapesPerAlert: 500, pointsPerAlert: 40_000 });
    expect(DRAWN_POLYGON_MAX_POINTS).toBe(1000);
  });

  it('refuses a document over 10 MiB before parsing it, naming the limit', () => {
    const big = BASE.replace('<info>', `<note>${'x'.repeat(CAP_LIMITS.documentBytes)}</note><info>`);
    expect(errors(big)).toEqual([{ path: 'alert', message: `document is larger than ${CAP_LIMITS.documentBytes} bytes (the limit of a CAP document)` }]);
  });

  it('refuses a document of more than 20,000 tags before parsing it', () => {
    expect(errors(`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">${'<b/>'.repeat(20_000)}</alert>`)).toEqual([
      { path: 'alert', message: 'document has more than 20000 tags (the limit of a CAP document)' },
    ]);
  });

  it('a polygon of 200,000 points is refused naming the limit of 4,000; 4,000 points are accepted', () => {
    expect(errors(withArea(`<polygon>${ringText(200_000)}</polygon>`))).toEqual([
      { path: 'alert/info[0]/area[0]/polygon[0]', message: 'has 200000 points; a polygon may have at most 4000' },
    ]);
    expect(errors(withArea(`<polygon>${ringText(4001)}</polygon>`))[0]?.message).toBe('has 4001 points; a polygon may have at most 4000');
    const r = parseCap(withArea(`<polygon>${ringText(4000)}</polygon>`));
    expect(r.ok && r.alert.info[0]!.area[0]!.polygon[0]!.length).toBe(4000);
  });

  it('refuses more than 500 polygons and circles, or more than 40,000 points, in one alert', () => {
    const circles = Array.from({ length: 501 }, () => '<circle>22.5,103.8 1</circle>').join('');
    expect(errors(withArea(circles))).toEqual([{ path: 'alert/info[0]/area[0]/circle[500]', message: 'the alert has more than 500 polygons and circles (the limit)' }]);
    const polygons = Array.from({ length: 11 }, () => `<polygon>${ringText(4000)}</polygon>`).join('');
    expect(errors(withArea(polygons))).toEqual([
      { path: 'alert/info[0]/area[0]/polygon[10]', message: 'the polygons of the alert have more than 40000 points together (the limit)' },
    ]);
  });

  it('6 MiB of embedded audio: no stack overflow; the alert is read, its audio not used, with a warning naming the limit', () => {
    const r = parseCap(withAudio(6 * 1024 * 1024));
    expect(r.ok).toBe(true);
    expect(r.warnings).toContainEqual({
      path: 'alert/info[0]/resource[0]/derefUri',
      message: `derefUri holds ${6 * 1024 * 1024} bytes; embedded resources of at most ${CAP_LIMITS.resourceBytes} bytes are used; the embedded resource will not be used`,
    });
    const within = parseCap(withAudio(1024 * 1024));
    expect(within.ok && within.warnings).toEqual([]);
    const d = within.ok ? decodeDerefUri(within.alert.info[0]!.resource[0]!) : undefined;
    expect(d?.ok && d.bytes.length).toBe(1024 * 1024);
  });

  it('lists at most 100 errors, counting the rest: 16,000 unknown elements do not make a megabyte answer', () => {
    const r = parseCap(`<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">${'<b/>'.repeat(16_000)}</alert>`);
    expect(r.ok ? [] : r.errors).toHaveLength(101);
    expect(r.ok ? undefined : r.errors[100]).toEqual({ path: 'alert', message: `${16_000 + 6 - 100} more not listed (at most 100 are)` });
  });

  it('only a small document with few tags is parsed on the event loop', () => {
    expect(parsesInline(BASE)).toBe(true);
    expect(parsesInline(BASE.replace('</area>', '<geocode><valueName>SAME</valueName><value>006037</value></geocode>'.repeat(200) + '</area>'))).toBe(false);
    expect(parsesInline(withAudio(64 * 1024))).toBe(false);
  });

  it('a large document is parsed in a worker thread with the same result as inline', async () => {
    const xml = withAudio(300 * 1024);
    expect(xml.length).toBeGreaterThan(CAP_LIMITS.inlineParseBytes);
    expect(await parseCapOffThread(xml)).toEqual(parseCap(xml));
    expect(await parseCapOffThread(withArea(`<polygon>${ringText(200_000)}</polygon>`))).toMatchObject({
      ok: false,
      errors: [{ message: 'has 200000 points; a polygon may have at most 4000' }],
    });
    expect(await parseCapOffThread(BASE)).toEqual(parseCap(BASE));
  });

  it('property: base64 is judged as the xs:base64Binary pattern does', () => {
    const pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
    const b64char = fc.constantFrom(...'ABCZaz09+/='.split(''), '-', '_', ' ', 'é');
    fc.assert(
      fc.property(
        fc.array(b64char, { maxLength: 40 }).map((a) => a.join('')),
        fc.uint8Array({ maxLength: 40 }),
        (junk, bytes) => {
          expect(isStrictBase64(junk)).toBe(pattern.test(junk));
          const good = Buffer.from(bytes).toString('base64');
          expect(isStrictBase64(good)).toBe(true);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('property: random CAP geometry never throws; refused exactly when a polygon passes 4,000 points', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 4, max: 4200 }), { minLength: 1, maxLength: 3 }), (sizes) => {
        const r = parseCap(withArea(sizes.map((n) => `<polygon>${ringText(n)}</polygon>`).join('')));
        const over = sizes.findIndex((n) => n > GEOMETRY_LIMITS.polygonPoints);
        if (over < 0) expect(r.ok).toBe(true);
        else expect(r.ok ? [] : r.errors).toContainEqual({ path: `alert/info[0]/area[0]/polygon[${over}]`, message: `has ${sizes[over]} points; a polygon may have at most 4000` });
      }),
      { numRuns: 40 },
    );
  });
});

describe('polygon matching', () => {
  // Coordinates on a 0.01° grid, so points fall on vertices, edges and box sides as often as inside.
  const coord = (lo: number, hi: number) => fc.integer({ min: lo * 100, max: hi * 100 }).map((v) => v / 100);
  const point = fc.tuple(coord(22, 23), coord(103, 104)) as fc.Arbitrary<LatLon>;

  it('property: the indexed matcher answers exactly as ray casting, for random (self-intersecting too) rings', () => {
    fc.assert(
      fc.property(fc.array(point, { minLength: 3, maxLength: 80 }), fc.array(point, { minLength: 1, maxLength: 60 }), (pts, probes) => {
        const ring = closeRing(pts);
        const inside = compileRing(ring);
        for (const p of probes) expect(inside(p)).toBe(pointInPolygon(p, ring));
      }),
      { numRuns: 500 },
    );
  });

  it('property: a polygon within the limits targets the same sites as the reference, for CAP and for a drawn polygon', () => {
    const sites = fc.array(point, { maxLength: 200 }).map((ps) => ps.map(([lat, lon], i) => ({ siteId: `s${i}`, lat, lon, areaId: 1 })));
    fc.assert(
      fc.property(fc.array(point, { minLength: 3, maxLength: 300 }), sites, (pts, ss) => {
        const ring = closeRing(pts);
        const want = ss.filter((s) => pointInPolygon([s.lat, s.lon], ring)).map((s) => s.siteId);
        expect(sitesInRing(ring, ss)).toEqual(want);
        expect(sitesInPolygon(pts, ss)).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });

  it('a drawn polygon over the limit is refused naming it', () => {
    const pts: LatLon[] = Array.from({ length: 1001 }, (_, i) => [22 + i / 2000, 103 + (i % 2) / 100]);
    expect(polygonProblem(pts)).toBe('has 1001 points; a drawn polygon may have at most 1000');
    expect(polygonProblem(pts.slice(0, 1000))).toBeNull();
  });
});

describe('CAP text to speak', () => {
  it('a description of megabytes is cut to the 50,000 characters of text to speech, with a note; the alert is not refused', async () => {
    const { chooseSpeech } = await import('../../server/alerts/cap/speech.ts');
    const words = 'Nước lũ dâng cao, sơ tán ngay. '.repeat(40_000);
    const r = parseCap(BASE.replace(/<instruction>[\s\S]*?<\/instruction>/, `<instruction>${words}</instruction>`));
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const c = chooseSpeech(r.alert);
    if (c.kind !== 'tts') throw new Error(c.kind);
    expect(c.text.length).toBeLessThanOrEqual(50_000);
    expect(c.text.length).toBeGreaterThan(49_900);
    expect(c.notes).toEqual([`the text to speak was cut to ${c.text.length} characters: at most 50000 characters are spoken`]);
  });
});
