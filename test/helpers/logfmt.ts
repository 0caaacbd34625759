// logfmt — parse the text log format (src/log/text.ts) back into key -> value, for tests.
/**
 * Parse one logfmt line back into key -> value (strings). The inverse of
 * jsonLineToText (src/log/text.ts) for what it writes.
 */
export function parseLogfmt(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/g;
  for (const m of line.matchAll(re)) {
    const raw = m[2];
    out[m[1]!] = raw === undefined
      ? (m[3] ?? '')
      : raw.replace(/\\(u[0-9a-f]{4}|.)/g, (_, e: string) => (e.length === 5 ? String.fromCharCode(parseInt(e.slice(1), 16)) : e));
  }
  return out;
}
