import { base64url, sha256Base64url } from './token-values.js'

/** RFC 7518 §6.2.1 and RFC 7517 §4: members that only a private (or symmetric) key has. */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']

/** base64url without padding (RFC 4648 §5), as JWS segments are (RFC 7515 §2). */
const BASE64URL = /^[A-Za-z0-9_-]*$/

/** What a server expects of the proof that came with one request. */
export interface DPoPProofExpectations {
  /** The request's method; `htm` must equal it (RFC 9449 §4.3 item 8). */
  readonly method: string
  /** The request's URL; `htu` must equal it without query and fragment (§4.3 item 9). */
  readonly url: string
  /** The nonce the server demands (§8, §9), `null` when it demands none. */
  readonly nonce: string | null
  /** The access token the request presents; `ath` must be its hash (§4.3 item 12). */
  readonly accessToken: string | null
  /** The server's clock, epoch ms. */
  readonly now: number
  /** How far `iat` may be from `now`, either way, in milliseconds (§4.3 item 11). */
  readonly iatWindow: number
}

/** The verdict on a DPoP proof. */
export type DPoPProofOutcome =
  | {
      readonly ok: true
      /** The RFC 7638 SHA-256 thumbprint of the proof's public key. */
      readonly jkt: string
    }
  | {
      readonly ok: false
      readonly error: 'invalid_dpop_proof'
      readonly description: string
      /** True when the proof was valid but its `jti` had been seen before (§11.1). */
      readonly replay: boolean
    }
  | { readonly ok: false; readonly error: 'use_dpop_nonce'; readonly description: string }

/**
 * The `jti` values of the proofs a server accepted, each kept until a proof with it could no
 * longer pass the `iat` check, so that a replayed proof is refused (RFC 9449 §11.1).
 */
export interface JtiCache {
  /**
   * Remembers `jti` until `until` (epoch ms).
   *
   * @returns false when it was already remembered: a replay
   */
  remember(jti: string, until: number, now: number): boolean
  /** Forgets every `jti`. */
  clear(): void
}

/**
 * Creates an empty {@link JtiCache}.
 *
 * @returns the cache
 */
export function createJtiCache(): JtiCache {
  const seen = new Map<string, number>()
  return {
    remember(jti, until, now) {
      for (const [value, expiry] of seen) if (expiry < now) seen.delete(value)
      if (seen.has(jti)) return false
      seen.set(jti, until)
      return true
    },
    clear() {
      seen.clear()
    },
  }
}

/**
 * The `DPoP` header of a request: its value, `null` when there is none, or `'multiple'` when there
 * are several (a JWT holds neither a comma nor a space, so `Headers` joining several values with
 * `, ` shows).
 *
 * @param request - the request
 * @returns the proof, `null` or `'multiple'`
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 */
export function readDPoPHeader(request: Request): string | null | 'multiple' {
  const value = request.headers.get('DPoP')
  if (value === null) return null
  return /[\s,]/.test(value.trim()) ? 'multiple' : value.trim()
}

function decodeBase64url(text: string): Uint8Array | null {
  if (!BASE64URL.test(text) || text.length % 4 === 1) return null
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

function decodeJSONSegment(segment: string): Record<string, unknown> | null {
  const bytes = decodeBase64url(segment)
  if (bytes === null) return null
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : null
  } catch {
    return null
  }
}

/** A P-256 public key as a JWK, members checked (RFC 7518 §6.2.1). */
interface P256PublicJWK {
  readonly kty: 'EC'
  readonly crv: 'P-256'
  readonly x: string
  readonly y: string
}

function readPublicJWK(jwk: unknown): P256PublicJWK | string {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    return '"jwk" must be a JSON Web Key object'
  }
  const key = jwk as Record<string, unknown>
  // RFC 9449 §4.3 item 6: the header must not carry a private key.
  const secret = PRIVATE_JWK_MEMBERS.find((member) => member in key)
  if (secret !== undefined) return `"jwk" must not contain the private member "${secret}"`
  if (key.kty !== 'EC' || key.crv !== 'P-256') return '"jwk" must be an EC P-256 key for ES256'
  const coordinate = (value: unknown) =>
    typeof value === 'string' && decodeBase64url(value)?.length === 32
  if (!coordinate(key.x) || !coordinate(key.y)) {
    return '"jwk" "x" and "y" must be 32-byte base64url coordinates'
  }
  return { kty: 'EC', crv: 'P-256', x: key.x as string, y: key.y as string }
}

/**
 * The JWK SHA-256 thumbprint of a P-256 public key: BASE64URL(SHA-256) of the JSON of its required
 * members in lexicographic order, without whitespace. It is what `jkt` (RFC 9449 §6.1) and
 * `dpop_jkt` (§10) carry.
 *
 * @param jwk - the public key
 * @returns the thumbprint, 43 characters
 * @see https://www.rfc-editor.org/rfc/rfc7638#section-3
 */
export async function jwkThumbprint(jwk: P256PublicJWK): Promise<string> {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })
  return sha256Base64url(canonical)
}

async function verifySignature(
  jwk: P256PublicJWK,
  input: string,
  signature: Uint8Array,
): Promise<boolean> {
  // RFC 7518 §3.4: an ES256 signature is R || S, 32 bytes each, as WebCrypto's ECDSA expects.
  if (signature.length !== 64) return false
  try {
    const key = await crypto.subtle.importKey(
      'jwk',
      { ...jwk, ext: true },
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    )
    return await crypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      key,
      signature as Uint8Array<ArrayBuffer>,
      new TextEncoder().encode(input),
    )
  } catch {
    // Not a point on the curve.
    return false
  }
}

/** The target URI without query and fragment, normalised by the URL parser, or `null`. */
function targetURI(text: string): string | null {
  if (!URL.canParse(text)) return null
  const url = new URL(text)
  url.search = ''
  url.hash = ''
  return url.href
}

/**
 * Checks the signed part of a proof: the header (§4.3 items 2 to 6) and the signature (item 7).
 *
 * @returns the key, or why the proof is invalid
 */
async function checkSignedProof(
  proof: string,
): Promise<
  | { readonly jwk: P256PublicJWK; readonly claims: Record<string, unknown> }
  | { readonly description: string }
> {
  const parts = proof.split('.')
  if (parts.length !== 3) return { description: 'The DPoP proof must be a compact JWS' }
  const [encodedHeader = '', encodedClaims = '', encodedSignature = ''] = parts
  const header = decodeJSONSegment(encodedHeader)
  const claims = decodeJSONSegment(encodedClaims)
  const signature = decodeBase64url(encodedSignature)
  if (header === null || claims === null || signature === null) {
    return { description: 'The DPoP proof is not a well-formed JWT' }
  }
  if (header.typ !== 'dpop+jwt') return { description: '"typ" must be dpop+jwt' }
  // The mock supports ES256 only (RFC 9449 §5.1 dpop_signing_alg_values_supported).
  if (header.alg !== 'ES256') return { description: '"alg" must be ES256' }
  const jwk = readPublicJWK(header.jwk)
  if (typeof jwk === 'string') return { description: jwk }
  if (!(await verifySignature(jwk, `${encodedHeader}.${encodedClaims}`, signature))) {
    return { description: 'The DPoP proof signature does not verify with its "jwk"' }
  }
  return { jwk, claims }
}

/** Checks the claims of a proof whose signature verified (§4.3 items 8 to 12), but the nonce. */
async function claimsError(
  claims: Record<string, unknown>,
  expected: DPoPProofExpectations,
): Promise<string | null> {
  const { jti, htm, htu, iat, ath } = claims
  if (typeof jti !== 'string' || jti === '') return '"jti" must be a non-empty string'
  if (htm !== expected.method) return `"htm" must be ${expected.method}`
  // §4.2: htu is the target URI "without query and fragment parts".
  if (typeof htu !== 'string' || /[?#]/.test(htu) || targetURI(htu) !== targetURI(expected.url)) {
    return '"htu" must be the request URL without query and fragment'
  }
  if (typeof iat !== 'number' || !Number.isFinite(iat)) return '"iat" must be a number'
  if (Math.abs(iat * 1000 - expected.now) > expected.iatWindow) {
    return '"iat" is too far from the server\'s time'
  }
  if (expected.accessToken !== null && ath !== (await sha256Base64url(expected.accessToken))) {
    return '"ath" must be the base64url SHA-256 hash of the access token'
  }
  return null
}

/**
 * Verifies a DPoP proof as RFC 9449 §4.3 asks: one compact JWS with `typ: dpop+jwt`, `alg: ES256`
 * and a public P-256 `jwk` (no private member), an ES256 signature that verifies with that key,
 * `htm` equal to the method, `htu` equal to the URL without query and fragment, `iat` within
 * `iatWindow` of the server's clock, `ath` matching the access token when one is presented, a
 * `jti` never seen before (§11.1), and the server's nonce when it demands one (§8, §9). A proof
 * whose only fault is the nonce is answered `use_dpop_nonce`; its `jti` is still spent.
 *
 * @param proof - the `DPoP` header's value
 * @param expected - what this request's proof must say
 * @param jtis - the `jti` values already seen
 * @returns the key's thumbprint, or the error to answer
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-11.1
 */
export async function verifyDPoPProof(
  proof: string,
  expected: DPoPProofExpectations,
  jtis: JtiCache,
): Promise<DPoPProofOutcome> {
  const invalid = (description: string, replay = false): DPoPProofOutcome => ({
    ok: false,
    error: 'invalid_dpop_proof',
    description,
    replay,
  })
  const signed = await checkSignedProof(proof)
  if ('description' in signed) return invalid(signed.description)
  const { claims, jwk } = signed
  const error = await claimsError(claims, expected)
  if (error !== null) return invalid(error)
  const until = (claims.iat as number) * 1000 + expected.iatWindow
  if (!jtis.remember(claims.jti as string, until, expected.now)) {
    return invalid('The DPoP proof was used before ("jti" replayed)', true)
  }
  if (expected.nonce !== null && claims.nonce !== expected.nonce) {
    return {
      ok: false,
      error: 'use_dpop_nonce',
      description: 'The DPoP proof must carry the nonce in the DPoP-Nonce header',
    }
  }
  return { ok: true, jkt: await jwkThumbprint(jwk) }
}

/**
 * Whether a value has the shape of a JWK SHA-256 thumbprint: 43 base64url characters.
 *
 * @param value - the value
 * @returns true for a well-formed thumbprint
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-10
 */
export function isThumbprint(value: string): boolean {
  return /^[A-Za-z0-9_-]{43}$/.test(value)
}

/**
 * A fresh DPoP nonce: unguessable, and made of `NQCHAR`s only (RFC 9449 §8.1).
 *
 * @returns the nonce
 */
export function createDPoPNonce(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return `n-${base64url(bytes)}`
}
