/**
 * Languages by name: the media library's list (GET /api/media/languages,
 * server/media/languages.ts), so the console never keeps a second copy. A tag
 * the list does not know (any BCP 47 tag is accepted) is shown as itself.
 */
import type { MediaLanguages } from '../../api/index.ts';
import { useApi } from './hooks.ts';
import { lang } from './i18n.ts';

export interface LanguageNames {
  /** The languages the library offers, in its order (Vietnamese first), `name` in the console's language. */
  known: MediaLanguages['languages'];
  /** A tag's name in the console's language ("Tiếng H'Mông", "Hmong"), else the tag itself. */
  name: (tag: string) => string;
  /** A list of tags as names, in order. */
  list: (tags: ReadonlyArray<string>) => string;
}

export function useLanguageNames(): LanguageNames {
  const res = useApi<MediaLanguages>('/api/media/languages');
  const en = lang() === 'en';
  const known = (res.data?.languages ?? []).map((l) => (en ? { ...l, name: l.nameEn } : l));
  const byTag = new Map(known.map((l) => [l.tag, l.name]));
  const name = (tag: string) => byTag.get(tag) ?? tag;
  return { known, name, list: (tags) => tags.map(name).join(', ') };
}
