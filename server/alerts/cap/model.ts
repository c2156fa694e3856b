/**
 * CAP 1.2 (OASIS Common Alerting Protocol, Version 1.2, 2010) as loanet reads
 * it. Pure types; `parse.ts` fills them from XML, the other modules of this
 * folder decide what to do with them. Element names follow the specification
 * so a reader can check a field against §3.2 directly.
 */

export const CAP12_NAMESPACE = 'urn:oasis:names:tc:emergency:cap:1.2';
export const XMLDSIG_NAMESPACE = 'http://www.w3.org/2000/09/xmldsig#';

export const CAP_STATUS = ['Actual', 'Exercise', 'System', 'Test', 'Draft'] as const;
export const CAP_MSG_TYPE = ['Alert', 'Update', 'Cancel', 'Ack', 'Error'] as const;
export const CAP_SCOPE = ['Public', 'Restricted', 'Private'] as const;
export const CAP_CATEGORY = ['Geo', 'Met', 'Safety', 'Security', 'Rescue', 'Fire', 'Health', 'Env', 'Transport', 'Infra', 'CBRNE', 'Other'] as const;
export const CAP_RESPONSE_TYPE = ['Shelter', 'Evacuate', 'Prepare', 'Execute', 'Avoid', 'Monitor', 'Assess', 'AllClear', 'None'] as const;
export const CAP_URGENCY = ['Immediate', 'Expected', 'Future', 'Past', 'Unknown'] as const;
export const CAP_SEVERITY = ['Extreme', 'Severe', 'Moderate', 'Minor', 'Unknown'] as const;
export const CAP_CERTAINTY = ['Observed', 'Likely', 'Possible', 'Unlikely', 'Unknown'] as const;

export type CapStatus = (typeof CAP_STATUS)[number];
export type CapMsgType = (typeof CAP_MSG_TYPE)[number];
export type CapScope = (typeof CAP_SCOPE)[number];
export type CapCategory = (typeof CAP_CATEGORY)[number];
export type CapResponseType = (typeof CAP_RESPONSE_TYPE)[number];
export type CapUrgency = (typeof CAP_URGENCY)[number];
export type CapSeverity = (typeof CAP_SEVERITY)[number];
export type CapCertainty = (typeof CAP_CERTAINTY)[number];

/** One problem, naming the element: `alert/info[0]/urgency`. */
export interface CapIssue {
  path: string;
  message: string;
}

/** `valueName` + `value` (eventCode, parameter, geocode). */
export interface CapValuePair {
  valueName: string;
  value: string;
}

/** One entry of `<references>`: "sender,identifier,sent". */
export interface CapReference {
  sender: string;
  identifier: string;
  sent: string;
}

/** [latitude, longitude] in WGS 84 degrees, the order CAP writes them in. */
export type LatLon = [number, number];

export interface CapCircle {
  center: LatLon;
  radiusKm: number;
}

export interface CapResource {
  resourceDesc: string;
  mimeType: string;
  /** Approximate size in bytes (CAP 1.2 §3.2.3). */
  size?: number;
  uri?: string;
  /** Base64 content as written in the message (whitespace kept out by the decoder). */
  derefUri?: string;
  /** SHA-1 of the resource, hex. */
  digest?: string;
}

export interface CapArea {
  areaDesc: string;
  /** Closed rings of ≥ 4 points, first point = last point. */
  polygon: LatLon[][];
  circle: CapCircle[];
  geocode: CapValuePair[];
  /** Feet above mean sea level (WGS 84), as CAP defines. */
  altitude?: number;
  ceiling?: number;
}

export interface CapInfo {
  /** RFC 3066 tag; "en-US" when the element is absent (CAP default). */
  language: string;
  category: CapCategory[];
  event: string;
  responseType: CapResponseType[];
  urgency: CapUrgency;
  severity: CapSeverity;
  certainty: CapCertainty;
  audience?: string;
  eventCode: CapValuePair[];
  effective?: string;
  onset?: string;
  expires?: string;
  senderName?: string;
  headline?: string;
  description?: string;
  instruction?: string;
  web?: string;
  contact?: string;
  parameter: CapValuePair[];
  resource: CapResource[];
  area: CapArea[];
}

export interface CapAlert {
  identifier: string;
  sender: string;
  /** dateTime with numeric zone, e.g. `2025-09-28T04:30:00+07:00` (see `capTimeToMs`). */
  sent: string;
  status: CapStatus;
  msgType: CapMsgType;
  source?: string;
  scope: CapScope;
  restriction?: string;
  /** Space-delimited in XML; addresses containing spaces are double-quoted. */
  addresses?: string[];
  code: string[];
  note?: string;
  references: CapReference[];
  incidents?: string[];
  info: CapInfo[];
}

/** (sender, identifier): what makes a CAP message unique (CAP 1.2 §3.2.1 identifier). */
export interface CapKey {
  sender: string;
  identifier: string;
}

export function capKeyString(k: CapKey): string {
  // Neither part may contain a space or a comma (§3.2.1), so this is unambiguous.
  return `${k.sender},${k.identifier}`;
}

/** The CAP dateTime form: numeric zone, no fraction, never "Z" (§3.3.2). */
export const CAP_DATETIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})([-+])(\d{2}):(\d{2})$/;

/** Milliseconds since the epoch for a valid CAP dateTime, else null. */
export function capTimeToMs(s: string): number | null {
  const m = CAP_DATETIME_RE.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se, sign, zh, zm] = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), m[7], Number(m[8]), Number(m[9])];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59 || zh > 14 || zm > 59) return null;
  const t = new Date(0);
  t.setUTCFullYear(y, mo, 0); // day 0 of the next month: the last day of this one (years < 100 kept as written)
  if (d > t.getUTCDate()) return null;
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, se, 0);
  const local = t.getTime();
  const offsetMs = (zh * 60 + zm) * 60_000 * (sign === '-' ? -1 : 1);
  return local - offsetMs;
}
