/**
 * config/redact — secrets in Redis URLs and systemd credential paths, without
 * dependencies (limits/ and config/ both use it; no import cycle).
 *
 *   redactUrl        a Redis URL without its password: parsed (WHATWG URL), so
 *                    "redis://:p@ssw0rd@host/0" and "?password=..." are both
 *                    caught; a URL that does not parse is not echoed at all.
 *   credentialPath   "${CREDENTIALS_DIRECTORY}/name" -> the file systemd put
 *                    there for LoadCredential=name:/path (systemd.exec(5));
 *                    null when the variable is not set (not under the unit).
 *
 * What can go wrong: nothing throws.
 */
const REDACTED = '***';
/** Query parameters that carry a password in the URL forms Redis clients accept. */
const SECRET_PARAMS = /^(password|pass|pwd|auth|requirepass|secret|token)$/i;

/** The URL for a log line or check-config: password and secret query values replaced by ***. */
export function redactUrl(url: string): string {
  if (url.startsWith('unix:') || url.startsWith('/')) {
    const q = url.indexOf('?');
    return q === -1 ? url : url.slice(0, q) + redactQuery(url.slice(q));
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<unparsable URL>';
  }
  if (u.password !== '') u.password = REDACTED;
  const out = u.search === '' ? u.href : u.href.slice(0, u.href.length - u.search.length - u.hash.length) + redactQuery(u.search) + u.hash;
  return out;
}

function redactQuery(search: string): string {
  const params = new URLSearchParams(search);
  let changed = false;
  for (const k of [...params.keys()]) {
    if (SECRET_PARAMS.test(k)) { params.set(k, REDACTED); changed = true; }
  }
  return changed ? `?${params.toString().replace(/%2A/g, '*')}` : search;
}

/** true when the URL carries a password (user info or query). */
export function urlHasSecret(url: string): boolean {
  return redactUrl(url) !== url;
}

export const CREDENTIALS_VAR = '${CREDENTIALS_DIRECTORY}';

/**
 * A file path with `${CREDENTIALS_DIRECTORY}` replaced by systemd's credentials
 * directory. Returns null when the path uses the variable and it is not set.
 */
export function credentialPath(path: string, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!path.includes(CREDENTIALS_VAR)) return path;
  const dir = env.CREDENTIALS_DIRECTORY;
  if (dir === undefined || dir === '') return null;
  return path.split(CREDENTIALS_VAR).join(dir);
}

