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
  return readChallengeError(header, 'bearer')
}

/**
 * Reads the `error` auth-param of the challenge of `scheme` (lower case) in a `WWW-Authenticate`
 * header: `bearer` (RFC 6750 §3) or `dpop` (RFC 9449 §7.1, where `use_dpop_nonce` asks for a proof
 * with the nonce the response carries, §9).
 *
 * @param header - the header value, or `null` when absent
 * @param scheme - the auth-scheme, lower case
 * @returns the error code, or `undefined`
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7.1
 */
export function readChallengeError(header: string | null, scheme: string): string | undefined {
  if (header === null) return undefined
  let inScheme = false
  for (const [, name = '', quoted, token] of header.matchAll(CHALLENGE_PART)) {
    if (quoted === undefined && token === undefined) {
      inScheme = name.toLowerCase() === scheme
    } else if (inScheme && name.toLowerCase() === 'error') {
      // Error codes never contain `"` or `\` (RFC 6750 §3): no quoted-pair to unescape.
      return quoted ?? token
    }
  }
  return undefined
}
