/**
 * A file from the API saved by the browser (a report, a CSV export): fetched
 * rather than linked, so a refusal is an ApiError the page words in the
 * user's language instead of the browser opening the server's JSON.
 */
import { ApiError, type ErrorDetails } from './api.ts';

export async function downloadFile(url: string, fallbackName: string, accept?: string): Promise<void> {
  const res = await fetch(url, { credentials: 'same-origin', headers: accept ? { accept } : {} });
  if (!res.ok) {
    let e: ErrorDetails = {};
    try {
      e = (await res.json()) as ErrorDetails;
    } catch {
      // Not JSON: the status alone.
    }
    throw new ApiError(res.status, e.error ?? 'LOANET_HTTP', e.message ?? `HTTP ${res.status}`, e);
  }
  const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? fallbackName;
  const href = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = href;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Later: the click has handed the file to the browser's download by then.
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}
