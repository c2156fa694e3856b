/** Loading API data into a component, with reload (live updates) and errors shown where the data would be. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, get } from './api.ts';
import { errorText as codeText, t } from './i18n.ts';

/** An API error as the user reads it: a refusal in their language, with the server's exact reason after it. */
export function errorText(e: Error): string {
  if (e instanceof ApiError && e.status === 403) return `${t('notAllowed')} (${e.message})`;
  // The server answers 404 for what lies outside the user's area too, so ids of other communes cannot be probed.
  if (e instanceof ApiError && e.status === 404) return `${t('notFoundOrOutside')} (${e.message})`;
  // A full disk: the console's own words first (errorText of i18n.ts), then the server's, which names the disk and what to free.
  const own = e instanceof ApiError && e.status === 507 ? codeText(e.code, e.details, '') : '';
  if (own) return `${own} (${e.message})`;
  return e.message;
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
