/**
 * CAP alerts inside the envelopes authorities distribute them in, pure:
 *
 * - EDXL-DE 1.0 and 2.0 (`<EDXLDistribution>`, OASIS): each
 *   `contentObject/xmlContent/embeddedXMLContent` may hold a CAP `<alert>`
 *   (how NAAD Canada and several national hubs relay CAP);
 * - Atom (`<feed>` or one `<entry>`) and RSS 2.0 (`<rss>`): an entry or item
 *   may embed the `<alert>` in its content, as an element or as escaped text;
 * - a bare list, `<alerts>` in the CAP namespace holding `<alert>`s, as SMHI
 *   (Sweden) publishes its current warnings.
 *
 * Each alert found comes back as a document of its own (its namespaces
 * declared on it), to be processed exactly as if it had been posted alone.
 * Only embedded alerts are taken: an entry that merely links to a CAP file
 * is never fetched by the server (that would let any poster make loanet
 * request any URL: server-side request forgery), and an envelope with no
 * embedded alert is refused, saying to post the CAP document itself.
 *
 * Bounded: at most ENVELOPE_LIMITS.alerts alerts per document, depth of
 * search, and the document itself is bounded by CAP_LIMITS.documentBytes.
 */
import { CAP12_NAMESPACE } from './model.ts';
import { CAP10_NAMESPACE, CAP11_NAMESPACE } from './parse.ts';
import { parseXml, type XmlElement } from './xml.ts';
import { CAP_LIMITS, countTags } from './limits.ts';

export const EDXL_DE_10_NAMESPACE = 'urn:oasis:names:tc:emergency:EDXL:DE:1.0';
export const EDXL_DE_20_NAMESPACE = 'urn:oasis:names:tc:emergency:EDXL:DE:2.0';
export const ATOM_NAMESPACE = 'http://www.w3.org/2005/Atom';

export const ENVELOPE_LIMITS = {
  /** CAP alerts taken from one envelope: a feed of a whole country's warnings is for a feed reader, not one POST. */
  alerts: 20,
  /** Elements deep an alert is looked for (EDXL-DE puts it at depth 4, Atom at 3). */
  depth: 8,
} as const;

export type EnvelopeFormat = 'EDXL-DE 1.0' | 'EDXL-DE 2.0' | 'Atom' | 'RSS' | 'CAP alert list';

export type Unwrapped =
  | { kind: 'alert' }
  | { kind: 'envelope'; format: EnvelopeFormat; alerts: string[] }
  | { kind: 'refused'; format: EnvelopeFormat | null; reason: 'links_only' | 'empty' | 'too_many' | 'unreadable'; message: string };

const CAP_NAMESPACES = new Set([CAP12_NAMESPACE, CAP11_NAMESPACE, CAP10_NAMESPACE]);

/** The root element's local name, read without parsing (after the XML declaration, comments and processing instructions). */
export function rootLocalName(xml: string): string | undefined {
  const m = /^\s*(?:(?:<\?[\s\S]*?\?>|<!--[\s\S]*?-->)\s*)*<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)/.exec(xml.slice(0, 4096));
  return m?.[1];
}

/** Whether a document is an envelope rather than a CAP alert, by its root element. */
export function looksLikeEnvelope(xml: string): boolean {
  const root = rootLocalName(xml);
  return root === 'EDXLDistribution' || root === 'feed' || root === 'entry' || root === 'rss' || root === 'alerts';
}

function formatOf(root: XmlElement): EnvelopeFormat | null {
  if (root.local === 'EDXLDistribution') return root.ns === EDXL_DE_20_NAMESPACE ? 'EDXL-DE 2.0' : 'EDXL-DE 1.0';
  if ((root.local === 'feed' || root.local === 'entry') && root.ns === ATOM_NAMESPACE) return 'Atom';
  if (root.local === 'rss') return 'RSS';
  if (root.local === 'alerts' && CAP_NAMESPACES.has(root.ns)) return 'CAP alert list';
  return null;
}

const escapeText = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const escapeAttr = (s: string) => escapeText(s).replace(/"/g, '&quot;');

function prefixOf(qname: string): string {
  const i = qname.indexOf(':');
  return i >= 0 ? qname.slice(0, i) : '';
}

/** An element as a standalone document: every namespace prefix its subtree uses declared on it. */
export function serialize(el: XmlElement): string {
  const used = new Map<string, string>();
  const collect = (e: XmlElement) => {
    const p = prefixOf(e.qname);
    if (!used.has(p)) used.set(p, e.ns);
    e.children.forEach(collect);
  };
  collect(el);
  const decl = [...used].filter(([p]) => p !== 'xml' && !(p === '' ? 'xmlns' in el.attrs : `xmlns:${p}` in el.attrs) && !(p === '' && used.get('') === ''));
  const write = (e: XmlElement, extra: string): string => {
    const attrs =
      Object.entries(e.attrs)
        .map(([k, v]) => ` ${k}="${escapeAttr(v)}"`)
        .join('') + extra;
    const inner = escapeText(e.text) + e.children.map((c) => write(c, '')).join('');
    return inner === '' ? `<${e.qname}${attrs}/>` : `<${e.qname}${attrs}>${inner}</${e.qname}>`;
  };
  const extra = decl.map(([p, ns]) => ` ${p === '' ? 'xmlns' : `xmlns:${p}`}="${escapeAttr(ns)}"`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n${write(el, extra)}`;
}

interface Found {
  alerts: XmlElement[];
  /** Documents embedded as escaped text (Atom content type="text", RSS description). */
  texts: string[];
  links: number;
}

function search(el: XmlElement, depth: number, found: Found): void {
  if (depth > ENVELOPE_LIMITS.depth) return;
  for (const c of el.children) {
    if (c.local === 'alert' && CAP_NAMESPACES.has(c.ns)) {
      found.alerts.push(c);
      continue;
    }
    const type = (c.attrs.type ?? '').toLowerCase();
    if ((c.local === 'link' || c.local === 'enclosure') && /cap\+xml|\bxml\b/.test(type)) found.links++;
    else if (c.local === 'link' && /\.cap(?:\.xml)?$|\/cap\//i.test(c.attrs.href ?? c.text)) found.links++;
    if (c.children.length === 0 && /^\s*(?:<\?xml[\s\S]*?\?>\s*)?<(?:[\w.-]+:)?alert[\s>]/.test(c.text)) found.texts.push(c.text.trim());
    search(c, depth + 1, found);
  }
}

export function unwrapEnvelope(xml: string): Unwrapped {
  if (!looksLikeEnvelope(xml)) return { kind: 'alert' };
  if (xml.length > CAP_LIMITS.documentBytes)
    return { kind: 'refused', format: null, reason: 'unreadable', message: `document is larger than ${CAP_LIMITS.documentBytes} bytes (the limit of a CAP document)` };
  if (countTags(xml, CAP_LIMITS.documentTags) > CAP_LIMITS.documentTags)
    return { kind: 'refused', format: null, reason: 'unreadable', message: `document has more than ${CAP_LIMITS.documentTags} tags (the limit of a CAP document)` };
  const doc = parseXml(xml);
  if (!doc.ok) return { kind: 'refused', format: null, reason: 'unreadable', message: doc.message };
  const format = formatOf(doc.root);
  if (!format) return { kind: 'alert' };
  const found: Found = { alerts: [], texts: [], links: 0 };
  search(doc.root, 1, found);
  const alerts = found.alerts.map(serialize);
  for (const t of found.texts) {
    const inner = parseXml(t);
    if (inner.ok && inner.root.local === 'alert' && CAP_NAMESPACES.has(inner.root.ns)) alerts.push(t);
  }
  if (alerts.length > ENVELOPE_LIMITS.alerts) {
    return {
      kind: 'refused',
      format,
      reason: 'too_many',
      message: `the ${format} document holds ${alerts.length} CAP alerts; at most ${ENVELOPE_LIMITS.alerts} are taken from one document: post them in several`,
    };
  }
  if (alerts.length === 0) {
    return found.links > 0
      ? {
          kind: 'refused',
          format,
          reason: 'links_only',
          message: `the ${format} document only links to its CAP alert${found.links > 1 ? 's' : ''}; loanet does not fetch links it is sent: post the CAP document itself`,
        }
      : { kind: 'refused', format, reason: 'empty', message: `the ${format} document holds no CAP alert` };
  }
  return { kind: 'envelope', format, alerts };
}

/** What the parsing worker runs for a large envelope (parse-offthread.ts). */
export function unwrapEnvelopeTask(input: { utf8: Uint8Array }): Unwrapped {
  return unwrapEnvelope(new TextDecoder('utf-8').decode(input.utf8));
}
