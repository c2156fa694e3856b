/**
 * Languages by name: the media library's list (GET /api/media/languages,
 * server/media/languages.ts), so the console never keeps a second copy. A tag
 * the list does not know (any BCP 47 tag is accepted) is shown as itself.
 */
import type { MediaLanguages } from '../../api/index.ts';
import { useApi } from './hooks.ts';

export interface LanguageNames {
  /** The languages the library offers, in its order (Vietnamese first). */
  known: MediaLanguages['languages'];
  /** A tag's name ("Tiếng H'Mông"), else the tag itself. */
  name: (tag: string) => string;
  /** A list of tags as names, in order. */
  list: (tags: ReadonlyArray<string>) => string;
}

export function useLanguageNames(): LanguageNames {
  const res = useApi<MediaLanguages>('/api/media/languages');
  const known = res.data?.languages ?? [];
  const byTag = new Map(known.map((l) => [l.tag, l.name]));
  const name = (tag: string) => byTag.get(tag) ?? tag;
  return { known, name, list: (tags) => tags.map(name).join(', ') };
}
