/**
 * The username rule, stated once: the user schema (api/users.ts) validates
 * with it and the console shows it beside the field and uses it as the
 * field's pattern. Plain values with no imports, so the console can import
 * them without bundling the schema library.
 */
export const USERNAME_MIN_LENGTH = 3;
export const USERNAME_MAX_LENGTH = 40;
/** The characters allowed, as a regular-expression class body (the hyphen escaped: browsers read an input's pattern with the `v` flag, where a bare one is an error). */
export const USERNAME_CHARACTERS = 'a-z0-9._\\-';
/** JSON Schema `pattern` (anchored). */
export const USERNAME_PATTERN = `^[${USERNAME_CHARACTERS}]{${USERNAME_MIN_LENGTH},${USERNAME_MAX_LENGTH}}$`;
