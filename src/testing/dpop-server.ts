import type { MockRecorder } from './counters.js'
import { createDPoPNonce, createJtiCache, readDPoPHeader, verifyDPoPProof } from './dpop-proof.js'
import type { ResolvedMockOptions } from './options.js'

/**
 * Who issues a nonce: the authorization server (its token and revocation endpoints share one,
 * RFC 9449 §8), or one API, named by its base URL (§9).
 */
export type DPoPNonceIssuer = 'authorization-server' | { readonly api: string }

/** What the server made of the `DPoP` header of one request. */
export type DPoPCheck =
  | { readonly kind: 'absent' }
  | { readonly kind: 'valid'; readonly jkt: string }
  | {
      readonly kind: 'refused'
      readonly error: 'invalid_dpop_proof' | 'use_dpop_nonce'
      readonly description: string
    }

/** The server side of DPoP, shared by the mock's handlers. Not part of the public surface. */
export interface DPoPServer {
  /**
   * Verifies the request's proof, if it has one, and counts the outcome.
   *
   * @param request - the request
   * @param issuer - whose nonce the proof must carry, when that party demands one
   * @param accessToken - the access token presented with it (`ath`), `null` at the token endpoint
   */
  check(request: Request, issuer: DPoPNonceIssuer, accessToken: string | null): Promise<DPoPCheck>
  /**
   * The current nonce of `issuer`, or `null` when it demands none.
   */
  nonce(issuer: DPoPNonceIssuer): string | null
  /**
   * Replaces nonces with fresh ones: the one of the party serving `url`, or every one.
   *
   * @throws {TypeError} when `url` is none of the mock's token, revocation or API URLs
   */
  rotate(url?: string): void
  /** Forgets the `jti`s seen and every nonce. */
  reset(): void
}

function keyOf(issuer: DPoPNonceIssuer): string {
  return issuer === 'authorization-server' ? issuer : `api ${issuer.api}`
}

/**
 * Creates the mock's DPoP state: the nonces it hands out and the `jti`s it has seen.
 *
 * @param options - resolved mock options, with `dpop` set
 * @param recorder - where to count proofs
 * @returns the DPoP server
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-4.3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-8
 */
export function createDPoPServer(
  options: ResolvedMockOptions & { readonly dpop: NonNullable<ResolvedMockOptions['dpop']> },
  recorder: MockRecorder,
): DPoPServer {
  const { dpop, endpoints } = options
  const jtis = createJtiCache()
  const nonces = new Map<string, string>()
  const demands = (issuer: DPoPNonceIssuer) =>
    issuer === 'authorization-server' ? dpop.nonce : dpop.apiNonce
  const server: DPoPServer = {
    nonce(issuer) {
      if (!demands(issuer)) return null
      const key = keyOf(issuer)
      const current = nonces.get(key) ?? createDPoPNonce()
      nonces.set(key, current)
      return current
    },

    async check(request, issuer, accessToken) {
      const proof = readDPoPHeader(request)
      if (proof === null) return { kind: 'absent' }
      const { counters } = recorder
      if (proof === 'multiple') {
        counters.dpopInvalid += 1
        // RFC 9449 §4.3 item 1: exactly one DPoP header.
        const description = 'A request must carry exactly one DPoP header'
        return { kind: 'refused', error: 'invalid_dpop_proof', description }
      }
      const outcome = await verifyDPoPProof(
        proof,
        {
          method: request.method,
          url: request.url,
          nonce: server.nonce(issuer),
          accessToken,
          // The server's own clock: a proof from a client whose clock differs is refused.
          now: Date.now() + options.clockSkew,
          iatWindow: dpop.iatWindow,
        },
        jtis,
      )
      if (outcome.ok) {
        counters.dpopProofs += 1
        return { kind: 'valid', jkt: outcome.jkt }
      }
      if (outcome.error === 'use_dpop_nonce') counters.dpopNonceErrors += 1
      else {
        counters.dpopInvalid += 1
        if (outcome.replay) counters.dpopReplays += 1
      }
      return { kind: 'refused', error: outcome.error, description: outcome.description }
    },

    rotate(url) {
      if (url === undefined) {
        nonces.clear()
        return
      }
      const location = URL.canParse(url) ? new URL(url) : null
      const target = location === null ? '' : `${location.origin}${location.pathname}`
      if (target === endpoints.token || target === endpoints.revocation) {
        nonces.delete(keyOf('authorization-server'))
        return
      }
      const api = endpoints.apis.find((base) => target === base || target.startsWith(`${base}/`))
      if (api === undefined) {
        throw new TypeError('"url" must be the token or revocation endpoint or an API URL')
      }
      nonces.delete(keyOf({ api }))
    },

    reset() {
      jtis.clear()
      nonces.clear()
    },
  }
  return server
}
