// The DPoP chunk, loaded only by clients with `dpop: true`. It imports only public classes from
// the main bundle; what else it needs is passed in.
import type { Emitter } from '../events.js'
import { base64url, challengeOf } from '../login/pkce.js'
import type { Session } from '../session.js'
import { createKeyStore, type DpopKey } from './key-store.js'

/** What a request needs to prove possession of the client's key (RFC 9449). */
export interface Dpop {
  /**
   * A DPoP proof JWT for one request (§4.2): `jti`, `htm`, `htu` (without query and fragment),
   * `iat`, the origin's `nonce` if it sent one, and `ath` (§4.3) with an access token. Signed with
   * the key of `jkt`, by default the session's.
   */
  proof(method: string, url: string, accessToken?: string, jkt?: string): Promise<string>
  /**
   * Keeps the `DPoP-Nonce` a response carries (§8 at the token endpoint, §9 at an API), for the
   * next proof to that origin. Returns whether it is another nonce than the one `sent` (the
   * request's proof) carried, or without a proof, than the one known: a retry with it can succeed.
   * Calls made at once all meet the same new nonce, and each may retry with it.
   */
  learn(url: string, response: Response, sent?: string): boolean
  /** A new key for a sign-in (§10); resolves to its thumbprint, the `dpop_jkt`. */
  renewKey(): Promise<string>
}

/** The `nonce` claim of a proof this module made, if any. */
function nonceIn(proof: string): unknown {
  try {
    const payload = (proof.split('.')[1] ?? '').replace(/-/g, '+').replace(/_/g, '/')
    return JSON.parse(atob(payload)).nonce
  } catch {
    return undefined
  }
}

/** base64url of a JSON value's UTF-8 bytes. */
const encodeJson = (value: unknown): string =>
  base64url(new TextEncoder().encode(JSON.stringify(value)))

/**
 * Creates the client's DPoP prover: its key (one per client id, shared by the tabs, see
 * {@link createKeyStore}), the nonces servers sent, by origin, and the proofs. The key of a
 * session that ended (logout, `invalid_grant`) is forgotten; a sign-in makes a new one.
 *
 * @param name - the client's store name (`freshtoken:` and the client id)
 * @param session - the session, whose tokens' key signs by default
 * @param events - the client's emitter: the end of a session forgets its key
 * @see https://www.rfc-editor.org/rfc/rfc9449
 */
export function createDpop(name: string, session: Session, events: Emitter): Dpop {
  const store = createKeyStore(name)
  /** The key last used, to sign without a store read while the session keeps it. */
  let cached: Promise<DpopKey> | undefined
  let cachedJkt: string | undefined
  const nonces = new Map<string, string>()
  /** `ath` by access token: a digest per token, not per call. */
  const hashes = new Map<string, Promise<string>>()
  /** The key of the last session seen here, forgotten when that session ends. */
  let bound = session.active()?.jkt

  events.on('tokens', () => {
    bound = session.active()?.jkt ?? bound
  })
  const forget = () => {
    if (bound !== undefined) void store.forget(bound).catch(() => undefined)
    cached = bound = undefined
  }
  events.on('logout', forget)
  events.on('expired', forget)

  function keyFor(jkt: string | undefined): Promise<DpopKey> {
    if (cached === undefined || (jkt !== undefined && jkt !== cachedJkt)) {
      cachedJkt = jkt
      const loading = store.key(jkt)
      cached = loading
      loading.then(
        (key) => {
          if (cached === loading) cachedJkt = key.jkt
        },
        () => {
          if (cached === loading) cached = undefined
        },
      )
    }
    return cached
  }

  function hashOf(accessToken: string): Promise<string> {
    let hash = hashes.get(accessToken)
    if (hash === undefined) {
      if (hashes.size > 8) hashes.clear()
      // §4.3: base64url(SHA-256(ASCII(token))), the same digest as PKCE's S256 challenge.
      hash = challengeOf(accessToken)
      hashes.set(accessToken, hash)
    }
    return hash
  }

  return {
    async proof(method, url, accessToken, jkt = session.active()?.jkt) {
      const { origin, pathname } = new URL(url)
      const [key, ath] = await Promise.all([
        keyFor(jkt),
        accessToken === undefined ? undefined : hashOf(accessToken),
      ])
      const header = encodeJson({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk })
      const payload = encodeJson({
        jti: base64url(crypto.getRandomValues(new Uint8Array(16))),
        htm: method,
        htu: origin + pathname,
        iat: Math.floor(Date.now() / 1000),
        ath,
        nonce: nonces.get(origin),
      })
      const input = `${header}.${payload}`
      const signature = await crypto.subtle.sign(
        { name: 'ECDSA', hash: 'SHA-256' },
        key.pair.privateKey,
        new TextEncoder().encode(input),
      )
      return `${input}.${base64url(signature)}`
    },
    learn(url, response, sent) {
      const nonce = response.headers.get('dpop-nonce')
      const { origin } = new URL(url)
      // A nonce is 1*NQCHAR (§8.1): printable ASCII without `"` or `\`.
      if (nonce === null || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(nonce)) return false
      const before = sent === undefined ? nonces.get(origin) : nonceIn(sent)
      nonces.set(origin, nonce)
      return nonce !== before
    },
    async renewKey() {
      const key = await store.renew()
      cached = Promise.resolve(key)
      cachedJkt = key.jkt
      return key.jkt
    },
  }
}
