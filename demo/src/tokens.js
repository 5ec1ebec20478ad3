/**
 * Shows a token without revealing it: its first 4 characters and an ellipsis.
 *
 * @param {string | undefined} token - a token value
 * @returns {string} the redacted form, `—` when there is none
 */
export function redact(token) {
  return token === undefined ? '—' : `${token.slice(0, 4)}…`
}

/**
 * A short fingerprint that tells tokens apart (and shows two tabs hold the same one) without
 * revealing them: the first 8 hex digits of the token's SHA-256.
 *
 * @param {string} token - a token value
 * @returns {Promise<string>} e.g. `#3fa2c1d0`
 */
export async function fingerprint(token) {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))
  const hex = [...new Uint8Array(digest, 0, 4)].map((byte) => byte.toString(16).padStart(2, '0'))
  return `#${hex.join('')}`
}
