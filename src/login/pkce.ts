/**
 * base64url without padding (RFC 4648 §5), as PKCE, OpenID Connect and JWS (DPoP proofs, RFC 7515
 * §2) use it.
 */
export function base64url(bytes: ArrayBuffer | Uint8Array): string {
  let binary = ''
  for (const byte of new Uint8Array(bytes)) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/**
 * A random value from the platform's CSPRNG, base64url-encoded: 32 bytes give the 43-character
 * PKCE verifier of RFC 7636 §4.1 (256 bits); `state` and `nonce` use the same.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1
 */
export function randomValue(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)))
}

/**
 * The `S256` code challenge of a verifier: base64url(SHA-256(ASCII(verifier))).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2
 */
export async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))
  return base64url(new Uint8Array(digest))
}
