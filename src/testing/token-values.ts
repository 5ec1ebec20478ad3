/**
 * Encodes bytes as base64url without padding (RFC 4648 §5), with Web APIs only so the mock also
 * runs next to a service worker in a browser.
 *
 * @param bytes - the bytes to encode
 * @returns the base64url text
 * @see https://www.rfc-editor.org/rfc/rfc4648#section-5
 */
export function base64url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/**
 * Returns an unguessable token value: a readable prefix and 256 bits from the platform CSPRNG.
 *
 * @param prefix - a label such as `at` or `rt` that makes logs readable without revealing anything
 * @returns the token value
 */
export function randomTokenValue(prefix: string): string {
  const bytes = new Uint8Array(32)
  crypto.getRandomValues(bytes)
  return `${prefix}_${base64url(bytes)}`
}

/**
 * Encodes an unsecured JWT (`alg: none`, empty signature): well-formed, so a client can decode its
 * claims, and worthless as a credential, which is all a client may assume of an access token.
 *
 * @param header - JOSE header members besides `alg`
 * @param claims - the claims set
 * @returns the compact serialization `header.payload.`
 * @see https://www.rfc-editor.org/rfc/rfc7519#section-6.1
 */
export function encodeUnsecuredJWT(
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
): string {
  const encoder = new TextEncoder()
  const part = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)))
  return `${part({ alg: 'none', ...header })}.${part(claims)}.`
}
