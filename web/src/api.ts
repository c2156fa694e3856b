/**
 * Talking to the loanet API from the console. The session token lives in an
 * HttpOnly cookie the page cannot read; unsafe requests carry the CSRF token
 * that login (or /api/auth/me after a reload) answered. Answers, request
 * bodies and errors are typed from the HTTP contract in api/ (types only:
 * nothing of it is bundled), so a change of shape on the server fails the
 * console's typecheck.
 */
import type { ErrorBody } from '../../api/index.ts';
import { lang, t } from './i18n.ts';
import { wordError } from './strings/errors.ts';

/** An error answer's fields: the contract's known ones, and whatever else its code carries. */
export type ErrorDetails = Partial<ErrorBody> & Record<string, unknown>;

/** An error code and its parameters in the user's language now (strings/errors.ts); `fallback` for a code it does not know. */
export function errorWording(code: string, details: Record<string, unknown>, fallback: string): string {
  return wordError(code, details, fallback, lang());
}

/**
 * A refused call. `message` is the refusal in the user's language, worded by
 * the console from the code and its parameters (every page that shows
 * `message` shows it so); `serverMessage` is the server's English, for logs.
 */
export class ApiError extends Error {
  readonly serverMessage: string;
  /** Whether the console has its own words for `code` (then `message` is whole in the user's language). */
  readonly worded: boolean;
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** The answer's other fields (params, field, limit, retryAfterS …), for the console's own wording of `code`. */
    readonly details: ErrorDetails = {},
  ) {
    super(errorWording(code, details, message));
    this.serverMessage = message;
    this.worded = errorWording(code, details, UNWORDED) !== UNWORDED;
  }
}

/** What errorWording answers for a code it has no words for (never a wording of its own). */
const UNWORDED = '\u0000';

let csrfToken = '';
let onUnauthenticated: () => void = () => {};

export function setCsrfToken(token: string): void {
  csrfToken = token;
}
export function whenUnauthenticated(fn: () => void): void {
  onUnauthenticated = fn;
}

/**
 * One call. T is the answer and B the request body, both named from api/
 * (`api<UserView, UserPatchRequest>('PATCH', …)`); the server answers
 * through the same schemas, so the answer is not checked again here.
 */
export async function api<T = unknown, B = unknown>(method: string, url: string, body?: B): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['x-csrf-token'] = csrfToken;
  let payload: BodyInit | undefined;
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(url, { method, headers, body: payload, credentials: 'same-origin' });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { message: text };
  }
  if (!res.ok) {
    const e = (data ?? {}) as ErrorDetails;
    if (res.status === 401 && !url.startsWith('/api/auth/login')) onUnauthenticated();
    throw new ApiError(res.status, e.error ?? 'LOANET_HTTP', e.message ?? `HTTP ${res.status}`, e);
  }
  return data as T;
}

export const get = <T>(url: string) => api<T>('GET', url);

/** Query string from the set fields of an object. */
export function qs(params: Record<string, string | number | boolean | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/**
 * Upload with progress (fetch cannot report upload progress; XHR can): a form as multipart (POST), or a
 * file as its raw bytes (a Blob, application/octet-stream: a release file PUT as it is).
 */
export function uploadWithProgress<T>(url: string, form: FormData | Blob, onProgress: (share: number) => void, method: 'POST' | 'PUT' = 'POST'): Promise<T> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader('x-csrf-token', csrfToken);
    xhr.setRequestHeader('accept', 'application/json');
    if (form instanceof Blob) xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, 'LOANET_NETWORK', t('networkFailed')));
    xhr.onload = () => {
      let data: unknown = null;
      try {
        data = JSON.parse(xhr.responseText);
      } catch {
        data = { message: xhr.responseText };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data as T);
      else {
        const e = (data ?? {}) as ErrorDetails;
        reject(new ApiError(xhr.status, e.error ?? 'LOANET_HTTP', e.message ?? `HTTP ${xhr.status}`, e));
      }
    };
    xhr.send(form);
  });
}
