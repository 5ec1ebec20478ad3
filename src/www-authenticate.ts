/**
 * An auth-scheme, or an auth-param with its token or quoted-string value (RFC 9110 §11.2).
 * Quoted strings may contain commas and escaped quotes.
 */
const CHALLENGE_PART =
  /([!#$%&'*+\-.^_`|~0-9A-Za-z]+)(?:[ \t]*=[ \t]*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*)))?/g

/**
 * Reads the `error` auth-param of the Bearer challenge in a `WWW-Authenticate` header.
 * Several challenges may share one header; only the Bearer one counts.
 *
 * @param header - the header value, or `null` when absent (cross-origin APIs often do not expose it)
 * @returns the error code (for example `invalid_token` or `insufficient_scope`), or `undefined`
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function readBearerError(header: string | null): string | undefined {
  if (header === null) return undefined
  let inBearer = false
  for (const [, name = '', quoted, token] of header.matchAll(CHALLENGE_PART)) {
    if (quoted === undefined && token === undefined) {
      inBearer = name.toLowerCase() === 'bearer'
    } else if (inBearer && name.toLowerCase() === 'error') {
      // Error codes never contain `"` or `\` (RFC 6750 §3): no quoted-pair to unescape.
      return quoted ?? token
    }
  }
  return undefined
}
