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

/**
 * BASE64URL(SHA-256(ASCII(text))): the PKCE `S256` transform of a code verifier, and the hash the
 * mock compares code challenges with.
 *
 * @param text - the text to hash (a code verifier is ASCII)
 * @returns the base64url hash, 43 characters
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.2
 */
export async function sha256Base64url(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return base64url(new Uint8Array(digest))
}

/**
 * The fixed secret the mock signs ID tokens with (HS256). Public on purpose: a client never
 * verifies an ID token with it (freshtoken does not check ID token signatures; the code flow over
 * TLS lets it skip them, OpenID Connect Core §3.1.3.7 item 6), but a test may.
 */
export const MOCK_ID_TOKEN_SECRET = 'freshtoken-mock-id-token-secret'

/**
 * Encodes a JWT signed with HMAC SHA-256 (`alg: HS256`) over `secret`.
 *
 * @param claims - the claims set
 * @param secret - the HMAC key, as UTF-8 text
 * @returns the compact serialization `header.payload.signature`
 * @see https://www.rfc-editor.org/rfc/rfc7515#appendix-A.1
 */
export async function encodeHS256JWT(
  claims: Readonly<Record<string, unknown>>,
  secret: string,
): Promise<string> {
  const encoder = new TextEncoder()
  const part = (value: unknown) => base64url(encoder.encode(JSON.stringify(value)))
  const input = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const signature = await crypto.subtle.sign('HMAC', key, encoder.encode(input))
  return `${input}.${base64url(new Uint8Array(signature))}`
}
