/**
 * A small namespace-aware XML element tree on top of fast-xml-parser, so the
 * CAP reader can ask "the `info` children in the CAP namespace" whatever
 * prefix a sender chose (`<alert xmlns=…>`, `<cap:alert xmlns:cap=…>`).
 *
 * Refused before parsing: documents that are not well-formed XML, and any
 * DOCTYPE (CAP needs none, and internal entity declarations are the classic
 * entity-expansion attack). Pure; never throws (errors come back as text).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export interface XmlElement {
  /** Namespace URI, '' when none is in scope. */
  ns: string;
  local: string;
  /** The name as written, with its prefix. */
  qname: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated character data directly inside this element (text and CDATA). */
  text: string;
}

export type XmlParseResult = { ok: true; root: XmlElement } | { ok: false; message: string };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: false,
  processEntities: true,
  // Also decodes numeric character references (&#7841; → ạ), which XML requires.
  htmlEntities: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  cdataPropName: '#cdata',
  commentPropName: '#comment',
});

type Raw = Record<string, unknown>;

export function parseXml(xml: string): XmlParseResult {
  try {
    if (/<!DOCTYPE/i.test(xml)) return { ok: false, message: 'a DOCTYPE is not allowed in a CAP message' };
    const v = XMLValidator.validate(xml);
    if (v !== true) return { ok: false, message: `not well-formed XML: ${v.err.msg} (line ${v.err.line}, column ${v.err.col})` };
    const raw = parser.parse(xml) as unknown;
    if (!Array.isArray(raw)) return { ok: false, message: 'not well-formed XML: no elements' };
    const roots = raw.flatMap((n) => convert(n as Raw, new Map([['xml', 'http://www.w3.org/XML/1998/namespace']])));
    if (roots.length === 0) return { ok: false, message: 'not well-formed XML: no root element' };
    if (roots.length > 1) return { ok: false, message: 'not well-formed XML: more than one root element' };
    return { ok: true, root: roots[0]! };
  } catch (e) {
    return { ok: false, message: `not well-formed XML: ${e instanceof Error ? e.message : String(e)}` };
  }
}

function textOf(nodes: unknown): string {
  if (!Array.isArray(nodes)) return '';
  let s = '';
  for (const n of nodes) {
    if (n && typeof n === 'object' && '#text' in n) s += String((n as Raw)['#text']);
  }
  return s;
}

function convert(node: Raw, scope: ReadonlyMap<string, string>): XmlElement[] {
  const names = Object.keys(node).filter((k) => k !== ':@');
  const out: XmlElement[] = [];
  for (const qname of names) {
    if (qname === '#text' || qname === '#comment' || qname === '#cdata' || qname.startsWith('?')) continue;
    const attrsRaw = (node[':@'] ?? {}) as Record<string, unknown>;
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries(attrsRaw)) attrs[k] = String(v);
    let inner = scope;
    for (const [k, v] of Object.entries(attrs)) {
      if (k === 'xmlns' || k.startsWith('xmlns:')) {
        if (inner === scope) inner = new Map(scope);
        (inner as Map<string, string>).set(k === 'xmlns' ? '' : k.slice(6), v);
      }
    }
    const colon = qname.indexOf(':');
    const prefix = colon >= 0 ? qname.slice(0, colon) : '';
    const local = colon >= 0 ? qname.slice(colon + 1) : qname;
    const kids = node[qname];
    const children: XmlElement[] = [];
    let text = '';
    if (Array.isArray(kids)) {
      for (const k of kids) {
        if (!k || typeof k !== 'object') continue;
        const kr = k as Raw;
        if ('#text' in kr) text += String(kr['#text']);
        else if ('#cdata' in kr) text += textOf(kr['#cdata']);
        else children.push(...convert(kr, inner));
      }
    }
    out.push({ ns: inner.get(prefix) ?? '', local, qname, attrs, children, text });
  }
  return out;
}
