/**
 * Hand-written checks for the parser's hot path (two lines per flow; bench/README.md, "Hand-written
 * scanners", has what they save). Each does exactly what the regular expression in its comment
 * does (the unit tests compare them), in one pass and without allocating.
 */

/** Whether a UTF-16 code unit is an ASCII digit (`\d` without the `u` flag). */
export function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/**
 * Whether `s.slice(from, to)` is a dotted-quad IPv4 address as Node's `net.isIPv4` accepts it
 * (`^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:...)$`): four decimal
 * octets of at most 255, no leading zeros.
 */
export function isIPv4(s: string, from = 0, to = s.length): boolean {
  let i = from;
  for (let octet = 0; octet < 4; octet++) {
    if (octet > 0) {
      if (i >= to || s.charCodeAt(i) !== 0x2e /* . */) return false;
      i++;
    }
    const start = i;
    let value = 0;
    while (i < to && i - start < 4 && isDigit(s.charCodeAt(i))) {
      value = value * 10 + (s.charCodeAt(i) - 0x30);
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || value > 255) return false;
    if (digits > 1 && s.charCodeAt(start) === 0x30) return false;
  }
  return i === to;
}
