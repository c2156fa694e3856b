/**
 * The bytes of a posted CAP document → its text, pure. XML says which
 * character encoding it is written in, and so may HTTP; RFC 7303 §3 (XML
 * media types) orders them:
 *
 * 1. a byte order mark (UTF-8, UTF-16 LE/BE) wins over everything (§3.3);
 * 2. then the `charset` parameter of the Content-Type, when given (§3.2),
 *    even when the XML declaration disagrees: a proxy or a feed that
 *    re-encoded the document says so there, not inside it;
 * 3. then the XML declaration's `encoding="…"` (XML 1.0 §4.3.3);
 * 4. else UTF-8 (XML 1.0 §4.3.3, RFC 7303 §3.2 for application/xml and text/xml).
 *
 * Any encoding the WHATWG Encoding Standard names (what TextDecoder reads:
 * ISO-8859-x, windows-125x, Shift_JIS, Big5, GB18030, EUC-KR, UTF-16…) is
 * read; another is refused naming it, never guessed. Bytes that are not valid
 * in the encoding chosen are refused too: reading a Latin-1 document as UTF-8
 * turns "Usulután" into "Usulut�n", which would then be spoken and shown.
 */

export type DecodedDocument =
  | { ok: true; text: string; encoding: string; from: 'bom' | 'charset' | 'declaration' | 'default'; notes: string[] }
  | { ok: false; kind: 'unknown_encoding' | 'invalid_bytes'; encoding: string; from: 'bom' | 'charset' | 'declaration' | 'default'; message: string };

/** The `charset` parameter of a Content-Type header, unquoted; undefined when absent. */
export function charsetOf(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const m = /;\s*charset\s*=\s*("([^"]*)"|[^;\s]+)/i.exec(contentType);
  if (!m) return undefined;
  const v = (m[2] ?? m[1] ?? '').trim();
  return v === '' ? undefined : v;
}

/** The `encoding` of an XML declaration at the start of an ASCII-compatible document. */
export function declaredEncoding(bytes: Uint8Array): string | undefined {
  // The declaration is ASCII and must come first (XML 1.0 §2.8); 300 bytes hold any real one.
  const head = new TextDecoder('latin1').decode(bytes.subarray(0, 300));
  const m = /^\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']/.exec(head.replace(/^\u00ef\u00bb\u00bf/, ''));
  return m?.[1];
}

function bomOf(bytes: Uint8Array): { encoding: string; length: number } | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return { encoding: 'utf-8', length: 3 };
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return { encoding: 'utf-16le', length: 2 };
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return { encoding: 'utf-16be', length: 2 };
  return undefined;
}

/** A TextDecoder for a label, or undefined when the Encoding Standard does not know it. */
function decoderFor(label: string): InstanceType<typeof TextDecoder> | undefined {
  try {
    // ignoreBOM: a BOM has been taken off already when there was one; another is content.
    return new TextDecoder(label, { fatal: true, ignoreBOM: true });
  } catch {
    return undefined;
  }
}

export function decodeCapDocument(bytes: Uint8Array, contentType?: string): DecodedDocument {
  const bom = bomOf(bytes);
  const charset = charsetOf(contentType);
  const declared = bom ? undefined : declaredEncoding(bytes);
  const [label, from] = bom
    ? [bom.encoding, 'bom' as const]
    : charset
      ? [charset, 'charset' as const]
      : declared
        ? [declared, 'declaration' as const]
        : ['utf-8', 'default' as const];
  const notes: string[] = [];
  const decoder = decoderFor(label);
  const where =
    from === 'charset' ? 'the charset parameter of the Content-Type' : from === 'declaration' ? 'the XML declaration' : from === 'bom' ? 'the byte order mark' : 'the default';
  if (!decoder) {
    return {
      ok: false,
      kind: 'unknown_encoding',
      encoding: label,
      from,
      message: `encoding "${label.slice(0, 40)}" (from ${where}) is not supported: send UTF-8, or an encoding of the WHATWG Encoding Standard (ISO-8859-1, windows-1252, UTF-16, Shift_JIS, Big5, GB18030…)`,
    };
  }
  const body = bom ? bytes.subarray(bom.length) : bytes;
  let text: string;
  try {
    text = decoder.decode(body);
  } catch {
    return {
      ok: false,
      kind: 'invalid_bytes',
      encoding: decoder.encoding,
      from,
      message: `the document is not valid ${decoder.encoding} (the encoding of ${where}): declare its real encoding in the XML declaration or the charset parameter`,
    };
  }
  if (from === 'charset' && declared && decoderFor(declared)?.encoding !== decoder.encoding) {
    notes.push(`the charset parameter (${charset}) and the XML declaration (${declared}) disagree; read as ${decoder.encoding}, as RFC 7303 §3.2 says`);
  }
  return { ok: true, text, encoding: decoder.encoding, from, notes };
}
