/**
 * The invariants of DPoP (RFC 9449) and resource indicators (RFC 8707), checked on what the token
 * endpoint and the APIs receive and answer. Active only in seeds with `dpop` or `resources`.
 *
 * - audience: an API call carries an access token of that API's resource (the session's own token,
 *   issued without `resource`, for an API without one); a token request names only a resource of
 *   the client's `apiOrigins`.
 * - dpop: a DPoP-bound token goes with the `DPoP` scheme and a proof of its key whose `ath` is the
 *   token's hash, `htm`/`htu` the request's; every token request carries a proof, of the key a
 *   bound refresh token is bound to; no `jti` twice; the server never answers `invalid_dpop_proof`
 *   (unless the machine slept between the signing and the arrival: `iat` then is too old).
 * - nonce: a proof carries a nonce that party issued, or none while the tab had heard none from it
 *   (when the proof was signed); after a `use_dpop_nonce` challenge a call is sent again once,
 *   with the same token (a challenge is no rejection: no renewal, no new token), and never a third
 *   time with that token; a call never sends a token twice without a challenge between.
 *
 * A retry answered `use_dpop_nonce` again (the nonce rotated between the challenge and the retry)
 * is where one retry, as RFC 9449 §8/§9 describe it, ends: the SDK then treats the answer as a
 * failure. The monitor counts it (`nonceRetryRefused`) and opens a recovery window as for a fault.
 */
import { createHash } from 'node:crypto'
import type { KnownBug } from './known-bugs.js'
import type { Flight } from './network.js'
import type { Tab, World } from './world.js'

/** The claims of a proof the watch reads. */
interface ProofClaims {
  readonly jti?: unknown
  readonly htm?: unknown
  readonly htu?: unknown
  readonly ath?: unknown
  readonly nonce?: unknown
}

/** A proof as sent: its header's key thumbprint and its claims. */
interface Proof {
  readonly jkt: string | undefined
  readonly claims: ProofClaims
}

/** When and where a proof was signed (by its `jti`). */
interface Signing {
  readonly step: number
  readonly at: number
  readonly owner: string | undefined
}

/** The requests of one app call to an API, as the server saw them. */
interface CallChain {
  token: string
  /** Requests with this token so far. */
  count: number
  /** Whether the last one was answered `use_dpop_nonce`. */
  challenged: boolean
  /** Whether the last one was a nonce retry. */
  retry: boolean
  /**
   * Whether the challenge's nonce was one the tab already held when the challenge reached it
   * (another answer taught it first): see 'nonce-retry-needs-new-nonce'.
   */
  knownNonce: boolean
}

/** A nonce retry goes out as soon as the challenge arrives (a key read may take a few ms). */
const RETRY_AT_ONCE = 100

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url')

function decodeSegment(segment: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment ?? '', 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/** The proof of a `DPoP` header, read without verifying it (the mock verifies). */
function readProof(value: string | null): Proof | undefined {
  if (value === null) return undefined
  const [head, body] = value.split('.')
  const header = decodeSegment(head)
  const claims = decodeSegment(body)
  if (header === undefined || claims === undefined) return undefined
  const jwk = header.jwk as { crv?: string; kty?: string; x?: string; y?: string } | undefined
  const jkt =
    jwk === undefined
      ? undefined
      : sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
  return { jkt, claims }
}

/** The RFC 7638 thumbprint the SDK's key store and the mock compute, for a JWK. */
export function thumbprint(jwk: { crv: string; kty: string; x: string; y: string }): string {
  return sha256(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
}

export class ApiWatch {
  readonly stats = {
    dpopProofs: 0,
    nonceChallenges: 0,
    nonceRetries: 0,
    nonceRetryRefused: 0,
    resourceTokenRequests: 0,
  }
  /** Proofs signed, by `jti`. */
  private readonly signings = new Map<string, Signing>()
  /** `jti`s that reached a server. */
  private readonly arrivedJtis = new Set<string>()
  /** Nonces each origin (the token server's, each API's) sent. */
  private readonly issued = new Map<string, Set<string>>()
  /** Per tab and origin, the step in which a response with a nonce first reached the tab. */
  private readonly learned = new Map<Tab, Map<string, number>>()
  /** Per tab and origin, the last nonce that reached the tab (what the SDK holds). */
  private readonly held = new Map<Tab, Map<string, string>>()
  /** API answers that were `use_dpop_nonce` challenges, with their call's chain. */
  private readonly challenges = new WeakMap<Flight, CallChain>()
  /** The nonce of each answer, until it settles. */
  private readonly answerNonce = new WeakMap<Flight, string>()
  /** Per app call (by the id in its URL), its requests so far. */
  private readonly chains = new Map<string, CallChain>()
  /**
   * Per tab, its last token request: to tell a nonce retry (the same request again, sent at once
   * after the challenge reached the tab) from a later renewal that presents the same grant.
   */
  private readonly lastTokenRequest = new Map<
    Tab,
    { key: string; challenged: boolean; retry: boolean; challengeAt: number }
  >()
  /** When each request was sent (virtual ms). */
  private readonly sentAt = new WeakMap<Flight, number>()
  /** The proof of each request that arrived. */
  private readonly proofs = new WeakMap<Flight, Proof | undefined>()

  constructor(
    private readonly world: World,
    /** Each API origin's resource, `null` for the session's own token. */
    private readonly audiences: ReadonlyMap<string, string | null>,
    private readonly resources: readonly string[],
    private readonly issuer: string,
    private readonly report: (
      invariant: string,
      message: string,
      known?: KnownBug,
      options?: { fatal?: boolean },
    ) => void,
    /** A failure excuse: the server acted as if faulty from now on (the recovery window). */
    private readonly fault: () => void,
    /** Whether the machine slept since `at`. */
    private readonly sleptSince: (at: number) => boolean,
    private readonly label: (token: string | undefined) => string,
  ) {}

  private get active(): boolean {
    return this.world.options.dpop || this.world.options.resources > 0
  }

  /** A proof was signed (the fake WebCrypto's ES256 `sign`, with the JWS signing input). */
  signed(input: string): void {
    const claims = decodeSegment(input.split('.')[1]) as ProofClaims | undefined
    if (typeof claims?.jti !== 'string') return
    const { scheduler } = this.world
    this.signings.set(claims.jti, {
      step: scheduler.steps,
      at: scheduler.now,
      owner: scheduler.owner('crypto.subtle.sign')?.name,
    })
  }

  /** A tab sent a request (its fetch was called). */
  sent(flight: Flight): void {
    this.sentAt.set(flight, this.world.scheduler.now)
  }

  /** A request reached the server (before it acts). */
  arrived(flight: Flight): void {
    if (!this.active) return
    if (flight.kind === 'api') this.apiArrived(flight)
    else if (flight.kind === 'token' || flight.kind === 'revocation') this.tokenArrived(flight)
  }

  private proofOf(flight: Flight, origin: string, required: boolean): Proof | undefined {
    const header = flight.headers.get('dpop')
    const proof = readProof(header)
    this.proofs.set(flight, proof)
    const what = `#${flight.id} ${flight.method} ${flight.path} from ${flight.owner.name}`
    if (proof === undefined) {
      if (header !== null) this.report('dpop', `${what}: the DPoP header is no JWT`)
      else if (required) this.report('dpop', `${what} carries no DPoP proof`)
      return undefined
    }
    this.stats.dpopProofs++
    const { jti, htm, htu, nonce } = proof.claims
    if (typeof jti !== 'string' || this.arrivedJtis.has(jti)) {
      this.report(
        'dpop',
        `${what}: proof "jti" ${typeof jti === 'string' ? 'replayed' : 'missing'}`,
      )
    } else this.arrivedJtis.add(jti)
    if (htm !== flight.method) this.report('dpop', `${what}: proof "htm" is ${String(htm)}`)
    if (htu !== `${origin}${flight.path}`)
      this.report('dpop', `${what}: proof "htu" is ${String(htu)}`)
    // The nonce: one this party issued, or none while the tab had heard none from it.
    if (nonce !== undefined) {
      if (typeof nonce !== 'string' || !this.issued.get(origin)?.has(nonce)) {
        this.report('nonce', `${what}: proof carries a nonce ${origin} never issued`)
      }
    } else {
      const signing = typeof jti === 'string' ? this.signings.get(jti) : undefined
      const heard = this.learned.get(flight.owner as Tab)?.get(origin)
      if (signing !== undefined && heard !== undefined && heard < signing.step) {
        this.report(
          'nonce',
          `${what}: proof without a nonce, signed after ${flight.owner.name} heard ${origin}'s nonce`,
        )
      }
    }
    return proof
  }

  private apiArrived(flight: Flight): void {
    const url = new URL(flight.url)
    const origin = url.origin
    const what = `#${flight.id} ${flight.method} ${url.host}${flight.path} from ${flight.owner.name}`
    const [scheme = '', token = ''] = (flight.headers.get('authorization') ?? '').split(' ')
    if (token === '') {
      this.report('audience', `${what} carries no access token`)
      return
    }
    const info = this.world.mock.introspect(token)
    const expected = this.audiences.get(origin) ?? null
    if (info.type !== 'access_token') {
      this.report('audience', `${what} carries ${this.label(token)}, no access token`)
    } else if (info.resource !== expected) {
      this.report(
        'audience',
        `${what} carries ${this.label(token)} for ${info.resource ?? 'the session (no resource)'}, not ${expected ?? 'the session (no resource)'}`,
      )
    }
    if (info.jkt !== null && scheme !== 'DPoP') {
      this.report('dpop', `${what} sends the DPoP-bound ${this.label(token)} as ${scheme}`)
    }
    if (scheme === 'DPoP') {
      const proof = this.proofOf(flight, origin, true)
      if (proof !== undefined) {
        if (proof.claims.ath !== sha256(token)) {
          this.report('dpop', `${what}: proof "ath" is not the hash of ${this.label(token)}`)
        }
        if (info.jkt !== null && proof.jkt !== info.jkt) {
          this.report('dpop', `${what}: proof of another key than ${this.label(token)}'s`)
        }
      }
    }
    // One app call: at most one nonce retry per token, with that token, and only after a challenge.
    const id = url.searchParams.get('call')
    if (id === null) return
    const chain = this.chains.get(id)
    if (chain === undefined) {
      this.chains.set(id, { token, count: 1, challenged: false, retry: false, knownNonce: false })
      return
    }
    if (chain.token === token) {
      chain.count++
      if (!chain.challenged) {
        this.report(
          'nonce',
          `call#${id}: ${what} sends ${this.label(token)} again without a use_dpop_nonce challenge`,
        )
      } else if (chain.retry) {
        this.report(
          'nonce',
          `call#${id}: ${what} is a second nonce retry with ${this.label(token)} (request ${chain.count})`,
        )
      }
      chain.retry = chain.challenged
      if (chain.retry) this.stats.nonceRetries++
    } else {
      if (chain.challenged && !chain.retry) {
        const known = chain.knownNonce
        this.report(
          'nonce',
          `call#${id}: ${what}: the use_dpop_nonce challenge to ${this.label(chain.token)} was not retried; the call went on with ${this.label(token)} (the challenge counted as a rejection)`,
          known ? 'nonce-retry-needs-new-nonce' : undefined,
          { fatal: !known },
        )
      }
      chain.token = token
      chain.count = 1
      chain.retry = false
    }
    chain.challenged = false
    chain.knownNonce = false
  }

  private tokenArrived(flight: Flight): void {
    const what = `#${flight.id} ${flight.path} from ${flight.owner.name}`
    const form = flight.form
    const resource = form?.get('resource') ?? null
    const refresh = form?.get('refresh_token') ?? form?.get('token') ?? undefined
    if (resource !== null) {
      this.stats.resourceTokenRequests++
      if (!this.resources.includes(resource)) {
        this.report(
          'audience',
          `${what} asks for resource ${resource}, which no apiOrigins entry names`,
        )
      }
    }
    if (!this.world.options.dpop) return
    const proof = this.proofOf(flight, this.issuer, flight.kind === 'token')
    if (flight.kind !== 'token') return
    if (proof !== undefined && proof.claims.ath !== undefined) {
      this.report('dpop', `${what}: a token request's proof carries "ath"`)
    }
    const bound = refresh === undefined ? null : this.world.mock.introspect(refresh).jkt
    if (bound !== null && proof !== undefined && proof.jkt !== bound) {
      this.report('dpop', `${what} presents ${this.label(refresh)} with a proof of another key`)
    }
    const tab = flight.owner as Tab
    const key = `${refresh} ${resource}`
    const last = this.lastTokenRequest.get(tab)
    const sent = this.sentAt.get(flight) ?? this.world.scheduler.now
    const retry =
      last !== undefined &&
      last.key === key &&
      last.challenged &&
      sent >= last.challengeAt &&
      sent - last.challengeAt <= RETRY_AT_ONCE
    if (retry && last.retry) {
      this.report('nonce', `${what}: a second nonce retry of one token request`)
    }
    if (retry) this.stats.nonceRetries++
    this.lastTokenRequest.set(tab, { key, challenged: false, retry, challengeAt: Infinity })
  }

  /** The server answered (before any return fault). */
  async answered(flight: Flight, response: Response): Promise<void> {
    if (!this.active) return
    const origin = new URL(flight.url).origin
    const nonce = response.headers.get('dpop-nonce')
    if (nonce !== null) {
      const issued = this.issued.get(origin) ?? new Set()
      issued.add(nonce)
      this.issued.set(origin, issued)
      this.answerNonce.set(flight, nonce)
    }
    let error: string | undefined
    if (flight.kind === 'api') {
      const challenge = response.headers.get('www-authenticate') ?? ''
      error = /^DPoP\b.*\berror="([^"]*)"/.exec(challenge)?.[1]
    } else if (flight.kind === 'token' || flight.kind === 'revocation') {
      if (response.status === 400) {
        try {
          error = ((await response.clone().json()) as { error?: string }).error
        } catch {}
      }
    } else return
    if (error === 'invalid_dpop_proof') {
      const jti = this.proofs.get(flight)?.claims.jti
      const signing = typeof jti === 'string' ? this.signings.get(jti) : undefined
      if (signing === undefined || !this.sleptSince(signing.at)) {
        this.report('dpop', `#${flight.id} ${flight.path}: the server answered invalid_dpop_proof`)
      }
    }
    if (error !== 'use_dpop_nonce') return
    this.stats.nonceChallenges++
    let retry = false
    if (flight.kind === 'api') {
      const id = new URL(flight.url).searchParams.get('call')
      const chain = id === null ? undefined : this.chains.get(id)
      if (chain !== undefined) {
        chain.challenged = true
        retry = chain.retry
        this.challenges.set(flight, chain)
      }
    } else if (flight.kind === 'token') {
      const last = this.lastTokenRequest.get(flight.owner as Tab)
      if (last !== undefined) {
        last.challenged = true
        retry = last.retry
      }
    }
    if (retry) {
      // The nonce rotated between the challenge and the retry: one retry is all the SDK makes.
      this.stats.nonceRetryRefused++
      this.world.log(
        this.world.server,
        () => `#${flight.id} nonce retry refused: the nonce rotated`,
      )
      this.fault()
    }
  }

  /** The tab's fetch settled: an answer with a nonce teaches the tab that origin's nonce. */
  settled(flight: Flight, outcome: 'response' | 'rejected'): void {
    const nonce = this.answerNonce.get(flight)
    if (outcome !== 'response' || nonce === undefined) return
    const tab = flight.owner as Tab
    const last = this.lastTokenRequest.get(tab)
    if (flight.kind === 'token' && last?.challenged) last.challengeAt = this.world.scheduler.now
    // Only the answer to a request with a proof is sure to be read for its nonce: RFC 9449 sends
    // no proof to the revocation endpoint (§5 is about token requests), and a client need not
    // read that answer's nonce.
    if (!flight.headers.has('dpop')) return
    const origin = new URL(flight.url).origin
    const heard = this.learned.get(tab) ?? new Map<string, number>()
    if (!heard.has(origin)) heard.set(origin, this.world.scheduler.steps)
    this.learned.set(tab, heard)
    const held = this.held.get(tab) ?? new Map<string, string>()
    const chain = this.challenges.get(flight)
    if (chain !== undefined && held.get(origin) === nonce) chain.knownNonce = true
    held.set(origin, nonce)
    this.held.set(tab, held)
  }

  /**
   * Whether app call `id` ended on a `use_dpop_nonce` challenge it did not retry because its nonce
   * was already the tab's (the signature of 'nonce-retry-needs-new-nonce' on a failed call).
   */
  endedOnKnownNonce(id: number): boolean {
    const chain = this.chains.get(String(id))
    return chain?.challenged === true && chain.knownNonce
  }

  /** getAccessToken({ resource }) handed out `token`: it must be of that audience. */
  tokenReturned(tab: Tab, token: string, resource: string | undefined): void {
    if (!this.active) return
    const info = this.world.mock.introspect(token)
    if (info.type === 'access_token' && info.resource !== (resource ?? null)) {
      this.report(
        'audience',
        `${tab.name} getAccessToken(${resource ?? ''}) returned ${this.label(token)} for ${info.resource ?? 'the session'}`,
      )
    }
  }
}
