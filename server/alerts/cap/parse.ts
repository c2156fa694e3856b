/**
 * CAP 1.2 XML → `CapAlert`, validated against the specification (OASIS CAP
 * 1.2, §3) and its schema (shared/data/cap/cap12.xsd). Never throws: every
 * problem comes back as `{path, message}` naming the element, e.g.
 * `alert/info[0]/urgency: "Soon" is not one of Immediate, Expected, Future, Past, Unknown`.
 *
 * Strict where the specification is:
 * - namespace `urn:oasis:names:tc:emergency:cap:1.2` (CAP 1.1 and others refused, naming the namespace);
 * - required elements and their cardinality, every enumeration (case-sensitive);
 * - dateTime with a numeric zone and no fraction; "Z" is refused because §3.3.2
 *   says alphabetic zone designators MUST NOT be used (UTC is "-00:00");
 * - identifier/sender without spaces, commas, "<" or "&" (§3.2.1);
 * - references as "sender,identifier,sent" triples, required for Update,
 *   Cancel, Ack and Error; restriction required for scope Restricted,
 *   addresses for scope Private;
 * - polygon: ≥ 4 "lat,lon" pairs, first = last; circle "lat,lon radius", radius ≥ 0 km;
 *   coordinates within WGS 84 ranges; ceiling only with altitude;
 * - limits (CAP_LIMITS, GEOMETRY_LIMITS), each refusal naming its limit: the
 *   document's size, points per polygon, polygons and circles per alert and
 *   their points together; an embedded resource over its limit is not used
 *   (a warning, as for a digest that does not match);
 * - derefUri: valid base64. A `digest` that does not match the SHA-1 of the
 *   decoded bytes is a warning, not a refusal: the text of the alert is still
 *   sound, only its embedded file is untrusted (speech.ts then speaks the text).
 *   The IPAWS RMT sample (ipaws-5e6ddbad…) is such a message.
 *
 * Liberal where that costs nothing in meaning (each yields a warning or nothing):
 * - element order (the schema's xs:sequence) is not enforced;
 * - an empty optional element (`<note></note>`, as IPAWS sends) counts as absent;
 * - elements of other namespaces are ignored with a warning; an xmldsig
 *   `Signature` under `<alert>` is what the schema allows (see signature.ts);
 * - `size` is "approximate" (§3.2.3), so a mismatch is a warning.
 */
import {
  CAP12_NAMESPACE,
  CAP_CATEGORY,
  CAP_CERTAINTY,
  CAP_MSG_TYPE,
  CAP_RESPONSE_TYPE,
  CAP_SCOPE,
  CAP_SEVERITY,
  CAP_STATUS,
  CAP_URGENCY,
  XMLDSIG_NAMESPACE,
  capTimeToMs,
  type CapAlert,
  type CapArea,
  type CapCircle,
  type CapInfo,
  type CapIssue,
  type CapReference,
  type CapResource,
  type CapValuePair,
  type LatLon,
} from './model.ts';
import { GEOMETRY_LIMITS } from './area-match.ts';
import { CAP_LIMITS, countTags } from './limits.ts';
import { decodeDerefUri } from './resource.ts';
import { decodeCapDocument } from './encoding.ts';
import { detectSignature, type SignatureReport } from './signature.ts';
import { parseXml, type XmlElement } from './xml.ts';

export const CAP11_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.1';
export const CAP10_NAMESPACE = 'http://www.incident.com/cap/1.0';

export interface CapParseOptions {
  /** Documents larger than this are refused before parsing (default CAP_LIMITS.documentBytes; the largest IPAWS sample is 0.45 MB). */
  maxBytes?: number;
}

export type CapParseResult = { ok: true; alert: CapAlert; warnings: CapIssue[]; signature: SignatureReport } | { ok: false; errors: CapIssue[]; warnings: CapIssue[] };

export function parseCap(input: string | Uint8Array, options: CapParseOptions = {}): CapParseResult {
  try {
    return parseUnsafe(input, options);
  } catch (e) {
    // Defence in depth: nothing below is meant to throw.
    return { ok: false, errors: [{ path: 'alert', message: `unreadable: ${e instanceof Error ? e.message : String(e)}` }], warnings: [] };
  }
}

/** What the parsing worker runs (parse-offthread.ts): the document arrives as UTF-8 bytes, moved rather than copied, and is read as the text it was. */
export function parseCapTask(input: { utf8: Uint8Array }): CapParseResult {
  return parseCap(new TextDecoder('utf-8').decode(input.utf8));
}

function refuse(path: string, message: string): CapParseResult {
  return { ok: false, errors: [{ path, message }], warnings: [] };
}

function parseUnsafe(input: string | Uint8Array, options: CapParseOptions): CapParseResult {
  const maxBytes = options.maxBytes ?? CAP_LIMITS.documentBytes;
  let xml: string;
  if (typeof input === 'string') {
    if (input.length > maxBytes) return refuse('alert', `document is larger than ${maxBytes} bytes (the limit of a CAP document)`);
    xml = input;
  } else {
    if (input.length > maxBytes) return refuse('alert', `document is larger than ${maxBytes} bytes (the limit of a CAP document)`);
    // Bytes are read in the encoding they declare (byte order mark, XML declaration), UTF-8 by default.
    const d = decodeCapDocument(input);
    if (!d.ok) return refuse('alert', d.message);
    xml = d.text;
  }
  if (xml.charCodeAt(0) === 0xfeff) xml = xml.slice(1);
  if (countTags(xml, CAP_LIMITS.documentTags) > CAP_LIMITS.documentTags)
    return refuse('alert', `document has more than ${CAP_LIMITS.documentTags} tags (the limit of a CAP document)`);

  const doc = parseXml(xml);
  if (!doc.ok) return refuse('alert', doc.message);
  const root = doc.root;
  if (root.local !== 'alert') return refuse(root.qname, `root element is <${root.qname}>, expected <alert>`);
  if (root.ns !== CAP12_NAMESPACE) {
    if (root.ns === CAP11_NAMESPACE) {
      return refuse('alert', `namespace ${CAP11_NAMESPACE} is CAP 1.1; only CAP 1.2 (${CAP12_NAMESPACE}) is accepted`);
    }
    if (root.ns === CAP10_NAMESPACE) {
      return refuse('alert', `namespace ${CAP10_NAMESPACE} is CAP 1.0; only CAP 1.2 (${CAP12_NAMESPACE}) is accepted`);
    }
    return refuse('alert', root.ns === '' ? `<alert> has no namespace; expected ${CAP12_NAMESPACE}` : `namespace ${root.ns} is not CAP 1.2 (${CAP12_NAMESPACE})`);
  }

  const cx = new Ctx();
  const alert = readAlert(root, cx);
  if (cx.errors.length > 0 || !alert) return { ok: false, errors: cx.listed(cx.errors, cx.droppedErrors), warnings: cx.listed(cx.warnings, cx.droppedWarnings) };
  return { ok: true, alert, warnings: cx.listed(cx.warnings, cx.droppedWarnings), signature: detectSignature(root) };
}

/** Errors, and warnings, listed in one answer. */
const MAX_ISSUES = 100;

class Ctx {
  readonly errors: CapIssue[] = [];
  readonly warnings: CapIssue[] = [];
  /** Polygons and circles read so far, and the points of the polygons (GEOMETRY_LIMITS). */
  shapes = 0;
  points = 0;
  /** Problems past MAX_ISSUES, counted but not listed: a hostile document can hold thousands. */
  droppedErrors = 0;
  droppedWarnings = 0;
  err(path: string, message: string): void {
    if (this.errors.length < MAX_ISSUES) this.errors.push({ path, message });
    else this.droppedErrors++;
  }
  warn(path: string, message: string): void {
    if (this.warnings.length < MAX_ISSUES) this.warnings.push({ path, message });
    else this.droppedWarnings++;
  }
  listed(issues: CapIssue[], dropped: number): CapIssue[] {
    return dropped > 0 ? [...issues, { path: 'alert', message: `${dropped} more not listed (at most ${MAX_ISSUES} are)` }] : issues;
  }
}

type Groups = Map<string, XmlElement[]>;

/** CAP children of `el` by local name; unknown CAP elements are errors, foreign ones warnings. */
function groupChildren(el: XmlElement, path: string, known: readonly string[], cx: Ctx, allowSignature = false): Groups {
  const g: Groups = new Map();
  for (const c of el.children) {
    if (c.ns !== CAP12_NAMESPACE) {
      if (allowSignature && c.ns === XMLDSIG_NAMESPACE && c.local === 'Signature') continue;
      cx.warn(`${path}/${c.qname}`, `element of namespace ${c.ns || '(none)'} ignored`);
      continue;
    }
    if (!known.includes(c.local)) {
      cx.err(`${path}/${c.local}`, `<${c.local}> is not a CAP 1.2 element here`);
      continue;
    }
    let list = g.get(c.local);
    if (!list) g.set(c.local, (list = []));
    list.push(c);
  }
  return g;
}

function textOfElement(el: XmlElement, path: string, cx: Ctx): string | undefined {
  if (el.children.length > 0) {
    cx.err(path, 'must hold text, not elements');
    return undefined;
  }
  const t = el.text.trim();
  return t === '' ? undefined : t;
}

/** A 0..1 or exactly-1 text element. */
function one(g: Groups, name: string, path: string, cx: Ctx, required: boolean): string | undefined {
  const list = g.get(name) ?? [];
  const p = `${path}/${name}`;
  if (list.length > 1) cx.err(p, `appears ${list.length} times; at most once is allowed`);
  if (list.length === 0) {
    if (required) cx.err(p, 'is required');
    return undefined;
  }
  const t = textOfElement(list[0]!, p, cx);
  if (t === undefined && required && list[0]!.children.length === 0) cx.err(p, 'is required and is empty');
  return t;
}

/** A 0..n text element; empty ones are skipped. */
function many(g: Groups, name: string, path: string, cx: Ctx): Array<{ value: string; path: string }> {
  const out: Array<{ value: string; path: string }> = [];
  (g.get(name) ?? []).forEach((el, i) => {
    const p = `${path}/${name}[${i}]`;
    const t = textOfElement(el, p, cx);
    if (t !== undefined) out.push({ value: t, path: p });
  });
  return out;
}

function inEnum<T extends string>(value: string, values: readonly T[], path: string, cx: Ctx): value is T {
  if ((values as readonly string[]).includes(value)) return true;
  cx.err(path, `"${value}" is not one of ${values.join(', ')}`);
  return false;
}

function oneEnum<T extends string>(g: Groups, name: string, path: string, cx: Ctx, values: readonly T[]): T | undefined {
  const v = one(g, name, path, cx, true);
  if (v === undefined) return undefined;
  return inEnum(v, values, `${path}/${name}`, cx) ? v : undefined;
}

function checkTime(value: string, path: string, cx: Ctx): boolean {
  if (capTimeToMs(value) !== null) return true;
  if (/Z$/i.test(value)) {
    cx.err(path, `"${value}" ends in "Z": CAP 1.2 requires a numeric time zone, "-00:00" for UTC (§3.3.2)`);
  } else {
    cx.err(path, `"${value}" is not a CAP dateTime (YYYY-MM-DDThh:mm:ss+hh:mm, e.g. 2025-09-28T04:30:00+07:00)`);
  }
  return false;
}

function oneTime(g: Groups, name: string, path: string, cx: Ctx, required: boolean): string | undefined {
  const v = one(g, name, path, cx, required);
  if (v === undefined) return undefined;
  return checkTime(v, `${path}/${name}`, cx) ? v : undefined;
}

function checkKeyPart(value: string, path: string, cx: Ctx): void {
  if (/[\s,<&]/.test(value)) cx.err(path, `"${value}" must not contain spaces, commas, "<" or "&" (§3.2.1)`);
}

/** Space-delimited list; items containing spaces are double-quoted (addresses, incidents). */
export function splitQuotedList(s: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    const item = m[1] ?? m[2] ?? '';
    if (item !== '') out.push(item);
  }
  return out;
}

const NUMBER_RE = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)$/;

function parseNumber(s: string): number | null {
  return NUMBER_RE.test(s) ? Number(s) : null;
}

function parsePoint(s: string): LatLon | null {
  const parts = s.split(',');
  if (parts.length !== 2) return null;
  const lat = parseNumber(parts[0]!);
  const lon = parseNumber(parts[1]!);
  if (lat === null || lon === null) return null;
  if (lat < -90 || lat > 90 || lon < -180 || lon > 180) return null;
  return [lat, lon];
}

function parsePolygon(text: string, path: string, cx: Ctx): LatLon[] | undefined {
  const tokens = text
    .trim()
    .split(/\s+/)
    .filter((t) => t !== '');
  if (tokens.length > GEOMETRY_LIMITS.polygonPoints) {
    cx.err(path, `has ${tokens.length} points; a polygon may have at most ${GEOMETRY_LIMITS.polygonPoints}`);
    return undefined;
  }
  if (cx.points + tokens.length > GEOMETRY_LIMITS.pointsPerAlert) {
    cx.err(path, `the polygons of the alert have more than ${GEOMETRY_LIMITS.pointsPerAlert} points together (the limit)`);
    return undefined;
  }
  cx.points += tokens.length;
  const ring: LatLon[] = [];
  for (const t of tokens) {
    const p = parsePoint(t);
    if (!p) {
      cx.err(path, `"${t.slice(0, 40)}" is not a "lat,lon" pair in WGS 84 ranges`);
      return undefined;
    }
    ring.push(p);
  }
  if (ring.length < 4) {
    cx.err(path, `has ${ring.length} points; a polygon needs at least 4 (first = last)`);
    return undefined;
  }
  const a = ring[0]!;
  const z = ring[ring.length - 1]!;
  if (a[0] !== z[0] || a[1] !== z[1]) {
    cx.err(path, 'is not closed: the first and last points must be the same');
    return undefined;
  }
  return ring;
}

function parseCircle(text: string, path: string, cx: Ctx): CapCircle | undefined {
  const parts = text.trim().split(/\s+/);
  const center = parts.length === 2 ? parsePoint(parts[0]!) : null;
  const radius = parts.length === 2 ? parseNumber(parts[1]!) : null;
  if (!center || radius === null) {
    cx.err(path, `"${text.slice(0, 60)}" is not "lat,lon radius" (radius in km)`);
    return undefined;
  }
  if (radius < 0) {
    cx.err(path, `radius ${radius} km is negative`);
    return undefined;
  }
  return { center, radiusKm: radius };
}

function readPairs(g: Groups, name: string, path: string, cx: Ctx): CapValuePair[] {
  const out: CapValuePair[] = [];
  (g.get(name) ?? []).forEach((el, i) => {
    const p = `${path}/${name}[${i}]`;
    const sub = groupChildren(el, p, ['valueName', 'value'], cx);
    const valueName = one(sub, 'valueName', p, cx, true);
    const value = one(sub, 'value', p, cx, false) ?? '';
    if (valueName !== undefined) out.push({ valueName, value });
  });
  return out;
}

const ALERT_ELEMENTS = [
  'identifier',
  'sender',
  'sent',
  'status',
  'msgType',
  'source',
  'scope',
  'restriction',
  'addresses',
  'code',
  'note',
  'references',
  'incidents',
  'info',
] as const;
const INFO_ELEMENTS = [
  'language',
  'category',
  'event',
  'responseType',
  'urgency',
  'severity',
  'certainty',
  'audience',
  'eventCode',
  'effective',
  'onset',
  'expires',
  'senderName',
  'headline',
  'description',
  'instruction',
  'web',
  'contact',
  'parameter',
  'resource',
  'area',
] as const;
const RESOURCE_ELEMENTS = ['resourceDesc', 'mimeType', 'size', 'uri', 'derefUri', 'digest'] as const;
const AREA_ELEMENTS = ['areaDesc', 'polygon', 'circle', 'geocode', 'altitude', 'ceiling'] as const;

function readAlert(el: XmlElement, cx: Ctx): CapAlert | undefined {
  const path = 'alert';
  const g = groupChildren(el, path, ALERT_ELEMENTS, cx, true);
  const identifier = one(g, 'identifier', path, cx, true);
  if (identifier !== undefined) checkKeyPart(identifier, `${path}/identifier`, cx);
  const sender = one(g, 'sender', path, cx, true);
  if (sender !== undefined) checkKeyPart(sender, `${path}/sender`, cx);
  const sent = oneTime(g, 'sent', path, cx, true);
  const status = oneEnum(g, 'status', path, cx, CAP_STATUS);
  const msgType = oneEnum(g, 'msgType', path, cx, CAP_MSG_TYPE);
  const source = one(g, 'source', path, cx, false);
  const scope = oneEnum(g, 'scope', path, cx, CAP_SCOPE);
  const restriction = one(g, 'restriction', path, cx, false);
  const addressesText = one(g, 'addresses', path, cx, false);
  const code = many(g, 'code', path, cx).map((c) => c.value);
  const note = one(g, 'note', path, cx, false);
  const referencesText = one(g, 'references', path, cx, false);
  const incidentsText = one(g, 'incidents', path, cx, false);

  if (scope === 'Restricted' && restriction === undefined) cx.err(`${path}/restriction`, 'is required when scope is Restricted');
  if (scope === 'Private' && addressesText === undefined) cx.err(`${path}/addresses`, 'is required when scope is Private');

  const references: CapReference[] = [];
  if (referencesText !== undefined) {
    referencesText.split(/\s+/).forEach((triple, i) => {
      const p = `${path}/references`;
      const parts = triple.split(',');
      if (parts.length !== 3 || parts.some((x) => x === '')) {
        cx.err(p, `entry ${i + 1} "${triple.slice(0, 80)}" is not "sender,identifier,sent"`);
        return;
      }
      const [rs, ri, rt] = parts as [string, string, string];
      if (!checkTime(rt, p, cx)) return;
      references.push({ sender: rs, identifier: ri, sent: rt });
    });
  }
  if ((msgType === 'Update' || msgType === 'Cancel' || msgType === 'Ack' || msgType === 'Error') && referencesText === undefined) {
    cx.err(`${path}/references`, `is required when msgType is ${msgType}`);
  }

  const info: CapInfo[] = [];
  (g.get('info') ?? []).forEach((ie, i) => {
    const r = readInfo(ie, `${path}/info[${i}]`, cx);
    if (r) info.push(r);
  });
  if (msgType === 'Alert' && (g.get('info') ?? []).length === 0) cx.warn(`${path}/info`, 'an Alert without <info> has nothing to announce');

  if (identifier === undefined || sender === undefined || sent === undefined || status === undefined || msgType === undefined || scope === undefined) {
    return undefined;
  }
  const alert: CapAlert = { identifier, sender, sent, status, msgType, scope, code, references, info };
  if (source !== undefined) alert.source = source;
  if (restriction !== undefined) alert.restriction = restriction;
  if (addressesText !== undefined) alert.addresses = splitQuotedList(addressesText);
  if (note !== undefined) alert.note = note;
  if (incidentsText !== undefined) alert.incidents = splitQuotedList(incidentsText);
  return alert;
}

const LANGUAGE_RE = /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/;

function readInfo(el: XmlElement, path: string, cx: Ctx): CapInfo | undefined {
  const g = groupChildren(el, path, INFO_ELEMENTS, cx);
  const language = one(g, 'language', path, cx, false) ?? 'en-US';
  if (!LANGUAGE_RE.test(language)) cx.err(`${path}/language`, `"${language}" is not an RFC 3066 language tag`);

  const categoryEls = g.get('category') ?? [];
  if (categoryEls.length === 0) cx.err(`${path}/category`, 'is required (at least one)');
  const category = many(g, 'category', path, cx)
    .filter((c) => inEnum(c.value, CAP_CATEGORY, c.path, cx))
    .map((c) => c.value as CapInfo['category'][number]);
  if (categoryEls.length > 0 && category.length === 0 && cx.errors.every((e) => !e.path.startsWith(`${path}/category`))) {
    cx.err(`${path}/category`, 'is empty');
  }
  const event = one(g, 'event', path, cx, true);
  const responseType = many(g, 'responseType', path, cx)
    .filter((c) => inEnum(c.value, CAP_RESPONSE_TYPE, c.path, cx))
    .map((c) => c.value as CapInfo['responseType'][number]);
  const urgency = oneEnum(g, 'urgency', path, cx, CAP_URGENCY);
  const severity = oneEnum(g, 'severity', path, cx, CAP_SEVERITY);
  const certainty = oneEnum(g, 'certainty', path, cx, CAP_CERTAINTY);
  const audience = one(g, 'audience', path, cx, false);
  const eventCode = readPairs(g, 'eventCode', path, cx);
  const effective = oneTime(g, 'effective', path, cx, false);
  const onset = oneTime(g, 'onset', path, cx, false);
  const expires = oneTime(g, 'expires', path, cx, false);
  const senderName = one(g, 'senderName', path, cx, false);
  const headline = one(g, 'headline', path, cx, false);
  const description = one(g, 'description', path, cx, false);
  const instruction = one(g, 'instruction', path, cx, false);
  const web = one(g, 'web', path, cx, false);
  const contact = one(g, 'contact', path, cx, false);
  const parameter = readPairs(g, 'parameter', path, cx);
  const resource: CapResource[] = [];
  (g.get('resource') ?? []).forEach((re, i) => {
    const r = readResource(re, `${path}/resource[${i}]`, cx);
    if (r) resource.push(r);
  });
  const area: CapArea[] = [];
  (g.get('area') ?? []).forEach((ae, i) => {
    const a = readArea(ae, `${path}/area[${i}]`, cx);
    if (a) area.push(a);
  });

  if (event === undefined || urgency === undefined || severity === undefined || certainty === undefined) return undefined;
  const info: CapInfo = { language, category, event, responseType, urgency, severity, certainty, eventCode, parameter, resource, area };
  if (audience !== undefined) info.audience = audience;
  if (effective !== undefined) info.effective = effective;
  if (onset !== undefined) info.onset = onset;
  if (expires !== undefined) info.expires = expires;
  if (senderName !== undefined) info.senderName = senderName;
  if (headline !== undefined) info.headline = headline;
  if (description !== undefined) info.description = description;
  if (instruction !== undefined) info.instruction = instruction;
  if (web !== undefined) info.web = web;
  if (contact !== undefined) info.contact = contact;
  return info;
}

function readResource(el: XmlElement, path: string, cx: Ctx): CapResource | undefined {
  const g = groupChildren(el, path, RESOURCE_ELEMENTS, cx);
  const resourceDesc = one(g, 'resourceDesc', path, cx, true);
  const mimeType = one(g, 'mimeType', path, cx, true);
  const sizeText = one(g, 'size', path, cx, false);
  const uri = one(g, 'uri', path, cx, false);
  const derefUri = one(g, 'derefUri', path, cx, false);
  const digest = one(g, 'digest', path, cx, false);
  let size: number | undefined;
  if (sizeText !== undefined) {
    if (/^\d{1,15}$/.test(sizeText)) size = Number(sizeText);
    else cx.err(`${path}/size`, `"${sizeText.slice(0, 40)}" is not a whole number of bytes`);
  }
  if (mimeType !== undefined && !/^[^\s/]+\/[^\s/]+$/.test(mimeType)) cx.warn(`${path}/mimeType`, `"${mimeType}" is not a type/subtype MIME type`);
  if (resourceDesc === undefined || mimeType === undefined) return undefined;
  const r: CapResource = { resourceDesc, mimeType };
  if (size !== undefined) r.size = size;
  if (uri !== undefined) r.uri = uri;
  if (derefUri !== undefined) r.derefUri = derefUri;
  if (digest !== undefined) r.digest = digest;
  if (derefUri !== undefined) {
    // Malformed base64 breaks the schema (xs:base64Binary): an error. A digest that does
    // not match is well-formed CAP whose embedded file cannot be trusted: a warning here,
    // and speech.ts will not play it (it falls back to the text).
    const d = decodeDerefUri(r);
    if (!d.ok) {
      if (d.kind === 'digest_mismatch') cx.warn(`${path}/digest`, `${d.message}; the embedded resource will not be used`);
      else if (d.kind === 'too_large') cx.warn(`${path}/derefUri`, `${d.message}; the embedded resource will not be used`);
      else cx.err(`${path}/derefUri`, d.message);
    } else for (const w of d.warnings) cx.warn(`${path}/size`, w);
  }
  return r;
}

/** Every `name` child parsed by `parse`; an empty element is refused with `emptyMessage`. */
function readShapes<T>(g: Groups, name: string, path: string, cx: Ctx, emptyMessage: string, parse: (text: string, path: string, cx: Ctx) => T | undefined): T[] {
  const out: T[] = [];
  (g.get(name) ?? []).forEach((e, i) => {
    const p = `${path}/${name}[${i}]`;
    if (++cx.shapes > GEOMETRY_LIMITS.shapesPerAlert) {
      if (cx.shapes === GEOMETRY_LIMITS.shapesPerAlert + 1) cx.err(p, `the alert has more than ${GEOMETRY_LIMITS.shapesPerAlert} polygons and circles (the limit)`);
      return;
    }
    const t = textOfElement(e, p, cx);
    if (t === undefined) {
      if (e.children.length === 0) cx.err(p, emptyMessage);
      return;
    }
    const v = parse(t, p, cx);
    if (v) out.push(v);
  });
  return out;
}

/** An optional number in feet (altitude, ceiling); `given` says whether the element had text. */
function readFeet(g: Groups, name: string, path: string, cx: Ctx): { given: boolean; feet: number | undefined } {
  const text = one(g, name, path, cx, false);
  if (text === undefined) return { given: false, feet: undefined };
  const n = parseNumber(text);
  if (n === null) cx.err(`${path}/${name}`, `"${text.slice(0, 40)}" is not a number (feet)`);
  return { given: true, feet: n ?? undefined };
}

function readArea(el: XmlElement, path: string, cx: Ctx): CapArea | undefined {
  const g = groupChildren(el, path, AREA_ELEMENTS, cx);
  const areaDesc = one(g, 'areaDesc', path, cx, true);
  const polygon = readShapes(g, 'polygon', path, cx, 'is empty; a polygon needs at least 4 points', parsePolygon);
  const circle = readShapes(g, 'circle', path, cx, 'is empty', parseCircle);
  const geocode = readPairs(g, 'geocode', path, cx);
  const { given: hasAltitude, feet: altitude } = readFeet(g, 'altitude', path, cx);
  const { given: hasCeiling, feet: ceiling } = readFeet(g, 'ceiling', path, cx);
  if (hasCeiling && !hasAltitude) cx.err(`${path}/ceiling`, 'may only be used with altitude');
  if (areaDesc === undefined) return undefined;
  const a: CapArea = { areaDesc, polygon, circle, geocode };
  if (altitude !== undefined) a.altitude = altitude;
  if (ceiling !== undefined) a.ceiling = ceiling;
  return a;
}
