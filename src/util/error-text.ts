/**
 * A network or system error in one line: its message and the system's code, from the error itself
 * (Node's `http`: `ECONNREFUSED`) or from its cause (`fetch` and undici: "fetch failed" caused by
 * `ECONNREFUSED`, `UND_ERR_SOCKET`).
 */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const own = (err as { code?: unknown }).code;
  const cause = (err as { cause?: { code?: unknown } }).cause?.code;
  const code = typeof own === 'string' ? own : typeof cause === 'string' ? cause : undefined;
  return code ? `${err.message} (${code})` : err.message;
}
