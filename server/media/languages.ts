/**
 * Language tags of media items: BCP 47 (RFC 5646), which takes ISO 639-1
 * two-letter codes where they exist and ISO 639-3 otherwise. Any well-formed
 * tag is accepted (a commune may broadcast in a language not listed here);
 * the list below names the languages of Lào Cai's peoples so a console can
 * offer them, with the tag each is stored under, named in Vietnamese (`name`)
 * and in English (`nameEn`, the name its speakers' English literature uses).
 */
export const KNOWN_LANGUAGES: ReadonlyArray<{ tag: string; name: string; nameEn: string; note?: string }> = [
  { tag: 'vi', name: 'Tiếng Việt', nameEn: 'Vietnamese' },
  {
    tag: 'hmn',
    name: "Tiếng H'Mông",
    nameEn: 'Hmong',
    note: "ISO 639-3 macrolanguage; hnj (Hmong Njua, H'Mông Lềnh/Xanh) and mww (Hmong Daw, H'Mông Đơ/Trắng) name single varieties",
  },
  { tag: 'ium', name: 'Tiếng Dao (Iu Mien)', nameEn: 'Dao (Iu Mien)', note: 'Dao Đỏ, Dao Tuyển; Kim Mun (Dao Quần Chẹt, Lan Tiền) is mji' },
  { tag: 'mji', name: 'Tiếng Dao (Kim Mun)', nameEn: 'Dao (Kim Mun)' },
  { tag: 'tyz', name: 'Tiếng Tày', nameEn: 'Tày' },
  { tag: 'pcc', name: 'Tiếng Giáy / Bố Y', nameEn: 'Giáy / Bouyei', note: 'both are varieties of Bouyei (ISO 639-3 pcc)' },
  { tag: 'nut', name: 'Tiếng Nùng', nameEn: 'Nùng' },
  { tag: 'blt', name: 'Tiếng Thái Đen (Tai Dam)', nameEn: 'Black Tai (Tai Dam)' },
  { tag: 'hni', name: 'Tiếng Hà Nhì (Hani)', nameEn: 'Hani (Hà Nhì)' },
  { tag: 'lbt', name: 'Tiếng La Chí (Lachi)', nameEn: 'Lachi (La Chí)' },
  { tag: 'phh', name: 'Tiếng Phù Lá (Phula)', nameEn: 'Phula (Phù Lá)' },
  { tag: 'en', name: 'Tiếng Anh', nameEn: 'English' },
];

// language (2–3 letters, or 4–8 registered) + optional script, region and variants/extension/private-use subtags
const BCP47 = /^[a-z]{2,8}(?:-[a-z]{4})?(?:-(?:[a-z]{2}|\d{3}))?(?:-(?:[a-z\d]{5,8}|\d[a-z\d]{3}))*(?:-[a-wyz\d](?:-[a-z\d]{2,8})+)*(?:-x(?:-[a-z\d]{1,8})+)?$/;

/** The canonical form of a well-formed tag (lower-case language, Title script, UPPER region), or undefined. */
export function normaliseLanguageTag(raw: string): string | undefined {
  const t = raw.trim().replace(/_/g, '-').toLowerCase();
  if (t.length > 35 || !BCP47.test(t)) return undefined;
  const parts = t.split('-');
  let extension = false; // after a singleton (-u-, -x-) subtags keep their case
  return parts
    .map((p, i) => {
      if (p.length === 1) extension = true;
      if (i === 0 || extension) return p;
      if (p.length === 4 && /^[a-z]{4}$/.test(p) && i === 1) return p[0]!.toUpperCase() + p.slice(1);
      if (p.length === 2 && /^[a-z]{2}$/.test(p)) return p.toUpperCase();
      return p;
    })
    .join('-');
}

/** The primary language subtag: what a TTS engine's voices are matched on. */
export function primaryLanguage(tag: string): string {
  return tag.split('-')[0]!.toLowerCase();
}
