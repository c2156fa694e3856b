/**
 * XML digital signatures on CAP messages (CAP 1.2 §3.3.4.1 allows an enveloped
 * XML-Signature as the last child of `<alert>`).
 *
 * loanet does NOT verify signatures yet: that needs XML canonicalisation
 * (exc-c14n), the signer's certificate chain and a trust list for Vietnamese
 * senders, none of which exist. This module only says whether a signature is
 * present, and says plainly that it was not checked — it never reports a
 * signature as valid. The Google tsunami sample carries a placeholder
 * `<Signature>…</Signature>`: it is reported signed, unverified, like a real one.
 * Trust in a sender therefore comes from who may POST (the HTTP role check).
 */
import { XMLDSIG_NAMESPACE } from './model.ts';
import type { XmlElement } from './xml.ts';

export type SignatureReport = { signed: false; verified: false } | { signed: true; verified: false; reason: 'signature verification not implemented'; elements: number };

/** Looks at the direct children of `<alert>` for an xmldsig `Signature`. */
export function detectSignature(alertElement: XmlElement): SignatureReport {
  const sigs = alertElement.children.filter((c) => c.local === 'Signature' && c.ns === XMLDSIG_NAMESPACE);
  if (sigs.length === 0) return { signed: false, verified: false };
  return { signed: true, verified: false, reason: 'signature verification not implemented', elements: sigs.length };
}
