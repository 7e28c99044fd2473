/** Longest tag value written; DNS names are at most 253 characters, anything longer is hostile. */
export const MAX_TAG_LENGTH = 255;

// Control characters (C0, DEL, C1) and the Unicode line/paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// The same, or a backslash.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\\]/;

/**
 * Makes an external string (a PTR name, a host name, an env value) safe as a tag value whatever it
 * holds. The client's `Point` escapes commas, spaces, `=` and newlines, but a value ending in a
 * backslash would swallow the separator after it, and `\` before an escaped character is read
 * differently by different servers. So: control characters become U+FFFD, backslashes become `/`,
 * the value is cut to 255 characters, and an empty result takes the fallback.
 * Everything else, non-ASCII included, is kept as is.
 */
export function safeTagValue(value: string, fallback: string): string {
  // Most values need nothing but the trim: short enough in UTF-16 code units (so in code points),
  // no control character, no backslash. Array.from, the slow part below, is then skipped.
  if (value.length <= MAX_TAG_LENGTH && !UNSAFE.test(value)) {
    const trimmed = value.trim();
    return trimmed === '' ? fallback : trimmed;
  }
  const cleaned = Array.from(value.replace(CONTROL, '\uFFFD').replaceAll('\\', '/'))
    .slice(0, MAX_TAG_LENGTH)
    .join('')
    .trim();
  return cleaned === '' ? fallback : cleaned;
}
