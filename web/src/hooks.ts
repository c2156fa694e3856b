/** Loading API data into a component, with reload (live updates) and errors shown where the data would be. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get } from './api.ts';
import { errorText as codeText, t } from './i18n.ts';

/**
 * An API error as the user reads it, in one sentence: the console's wording of its code when it has one
 * (it already says what is refused or missing), else the general refusal for its status in the user's
 * language; the server's English only for a status the console has no words for.
 */
export function errorText(e: Error): string {
  if (!(e instanceof ApiError)) return e.message;
  if (e.worded) return e.message;
  if (e.status === 403) return t('notAllowed');
  // The server answers 404 for what lies outside the user's area too, so ids of other communes cannot be probed.
  if (e.status === 404) return t('notFoundOrOutside');
  // A full disk: the console's own words (errorText of i18n.ts) for the disk codes it knows there.
  const own = e.status === 507 ? codeText(e.code, e.details, '') : '';
  return own || e.message;
}

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  reload: () => void;
}

export function useApi<T>(url: string | null): Loaded<T> {
  const [state, setState] = useState<{ data: T | undefined; error: string | undefined }>({ data: undefined, error: undefined });
  const seq = useRef(0);
  const load = useCallback(() => {
    if (!url) return;
    const n = ++seq.current;
    get<T>(url).then(
      (data) => n === seq.current && setState({ data, error: undefined }),
      (e: Error) => n === seq.current && setState((s) => ({ data: s.data, error: errorText(e) })),
    );
  }, [url]);
  useEffect(() => {
    setState({ data: undefined, error: undefined });
    load();
  }, [load]);
  return { ...state, reload: load };
}

/** Call `fn` at most once per `ms` however often the trigger fires (a province changing at once must not hammer the server). */
export function useThrottled(fn: () => void, ms: number): () => void {
  const timer = useRef<number | null>(null);
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => () => void (timer.current !== null && clearTimeout(timer.current)), []);
  return useCallback(() => {
    if (timer.current !== null) return;
    timer.current = window.setTimeout(() => {
      timer.current = null;
      latest.current();
    }, ms);
  }, [ms]);
}
