/**
 * Pages loaded when first opened (Vite splits each dynamic import into its own
 * file), so a phone on 4G downloads the overview and sites first and the
 * schedule, emergency, live and admin pages only when someone opens them.
 */
import type { FunctionComponent } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { t } from './i18n.ts';

export function lazyPage<P extends object>(load: () => Promise<FunctionComponent<P>>): FunctionComponent<P> {
  let loaded: FunctionComponent<P> | undefined;
  return function LazyPage(props: P) {
    const [Page, setPage] = useState<FunctionComponent<P> | undefined>(() => loaded);
    const [error, setError] = useState('');
    useEffect(() => {
      if (loaded) return;
      load().then(
        (c) => {
          loaded = c;
          setPage(() => c);
        },
        (e: Error) => setError(e.message),
      );
    }, []);
    if (error) return <p class="error">{error}</p>;
    return Page ? <Page {...props} /> : <p class="muted">{t('loading')}</p>;
  };
}
