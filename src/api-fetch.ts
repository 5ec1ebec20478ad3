// The general path of `auth.fetch`, a chunk loaded with the first call that is not the common one
// (see auth-fetch.ts), or at once by a client with DPoP or resource indicators. It imports only
// public error classes from the main bundle; what else it needs is passed in.
import type { Dpop } from './dpop/dpop.js'
import type { ResolvedOptions } from './options.js'
import type { Refresher } from './refresh.js'
import { FIRST_BREAKER_PAUSE, MAX_BREAKER_PAUSE } from './rejection-breaker.js'
import type { RejectionPolicy } from './rejection-policy.js'
import type { RenewalParts } from './renewal.js'
import type { ResourceTokens } from './resource-tokens.js'
import type { TokenSet } from './token-set.js'
import { readChallengeError } from './www-authenticate.js'

/** The API calls of the general path. */
export interface ApiFetch {
  /**
   * `fetch` for a request to an allowed origin (the caller checked it); `token` is the session's
   * token the caller already asked for, if it did.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit, token?: Promise<string>): Promise<Response>
  /**
   * The common path's 401 to the bodiless call `input` sent with `token`: the 401 policy's
   * answer (a retry after one shared renewal, or the 401 as it is).
   */
  rejected(
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    response: Response,
    token: string,
  ): Promise<Response>
  /** The API accepted the session's token (any status but 401): its breaker closes. */
  accepted(): void
  /**
   * The access token for `resource` (RFC 8707), renewed first if needed.
   * @throws {TypeError} for a resource no `apiOrigins` entry names
   */
  getAccessToken(resource: string, signal?: AbortSignal | null): Promise<string>
  /** The DPoP prover (RFC 9449), loaded on the first need; with `dpop: true` only. */
  dpop(): Promise<Dpop>
  /** Stops the proactive renewals of the resources' tokens. */
  dispose(): void
}

/**
 * Creates the general path of `auth.fetch`. Each call goes with the token of its origin's
 * resource (RFC 8707; the session's own token for other origins), renewed first when needed. A
 * DPoP-bound token goes as `Authorization: DPoP` with a fresh proof per attempt (RFC 9449 §7.1),
 * whose `ath` binds it to the token; a 401 `use_dpop_nonce` that brings a new nonce is sent again
 * once with it (§9) and is no rejection. Any other 401 goes to the 401 policy of that resource, so
 * a rejection by one API never renews or opens the breaker of another. Bodies are replayed from a
 * `Request` template; a `ReadableStream` body is sent once and its 401 returned. A call that
 * brings its own `Authorization` is sent untouched.
 *
 * @param options - the client's resolved options
 * @param refresher - the session's refresher
 * @param renewal - the parts of a renewal (session, events, traffic, ...), shared with the refresher
 * @param exponentialPause - the main bundle's pause schedule (timing.ts), for the 401 breaker
 * @param name - the client's store name (`freshtoken:` and the client id), which names its key
 * @param requestUrl - the main bundle's reading of a request's URL, as fetch resolves it
 * @returns the general path
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function createApiFetch(
  options: ResolvedOptions,
  refresher: Refresher,
  renewal: RenewalParts,
  exponentialPause: (count: number, first: number, max: number) => number,
  name: string,
  requestUrl: (input: RequestInfo | URL) => URL | undefined,
): ApiFetch {
  const { session, events, traffic } = renewal
  /** DPoP or resource indicators: a call's URL decides its token and its proof. */
  const extended = options.dpop || options.resources.length > 0
  let proving: Promise<Dpop> | undefined
  /** The prover, loaded once (again after a failed load); `undefined` without `dpop: true`. */
  const dpop = options.dpop
    ? () =>
        (proving ??= import('./dpop/dpop.js').then(
          ({ createDpop }) => createDpop(name, session, events),
          (error: unknown) => {
            proving = undefined
            throw error
          },
        ))
    : undefined
  // The prover is loaded at once: it forgets the key of a session that ends.
  dpop?.().catch(() => undefined)
  /** The resources' tokens, a chunk of their own for clients with resource indicators. */
  let perResource: ResourceTokens | undefined
  let loadingResources: Promise<ResourceTokens> | undefined
  /** Loads them once (again after a failed load: the page's own server was out of reach). */
  const resources = () =>
    (loadingResources ??= import('./resource-tokens.js').then(
      ({ createResourceTokens }) =>
        (perResource ??= createResourceTokens(options.resources, refresher, renewal)),
      (error: unknown) => {
        loadingResources = undefined
        throw error
      },
    ))
  // Loaded at once: they renew the resources' tokens before they expire.
  if (options.resources.length) resources().catch(() => undefined)
  /** The 401 policy of each resource (`''`: the session's own token), loaded at its first 401. */
  const policies = new Map<string, Promise<RejectionPolicy>>()
  const loaded = new Map<string, RejectionPolicy>()

  /** The tokens calls to `resource` (the session's own without one) are sent with now. */
  const current = (resource: string | undefined): TokenSet | undefined =>
    resource === undefined ? session.active()?.tokens : perResource?.current(resource)

  /**
   * The access token to send to `resource` (the session's own without one), renewed first when
   * needed; `asked` is the session's token the caller already asked for.
   */
  async function tokenFor(
    resource: string | undefined,
    signal: AbortSignal | null | undefined,
    asked?: Promise<string>,
  ): Promise<string> {
    if (resource === undefined) return asked ?? refresher.getAccessToken(signal)
    return (await (await resources()).tokens(resource, signal)).accessToken
  }

  /**
   * Renews the token of `resource` until it is another than the one rejected: one renewal, or a
   * few when renewals of other resources moved the session on first.
   */
  async function renewFor(
    resource: string | undefined,
    rejected: string | undefined,
    signal: AbortSignal | null | undefined,
  ) {
    if (resource !== undefined) return (await resources()).renew(resource, rejected)
    let renewed: TokenSet
    let rounds = 0
    do renewed = await refresher.refresh(signal)
    while (renewed.accessToken === rejected && ++rounds < 4)
    return renewed
  }

  function policyFor(resource: string | undefined): Promise<RejectionPolicy> {
    const key = resource ?? ''
    let policy = policies.get(key)
    if (policy === undefined) {
      policy = import('./rejection-policy.js').then(({ createRejectionPolicy }) => {
        const created = createRejectionPolicy({
          session,
          events,
          refresh: (signal) => {
            signal?.throwIfAborted()
            return renewFor(resource, current(resource)?.accessToken, signal)
          },
          current: () => current(resource)?.accessToken,
          pauseFor: (trips) => exponentialPause(trips, FIRST_BREAKER_PAUSE, MAX_BREAKER_PAUSE),
        })
        loaded.set(key, created)
        return created
      })
      // Not loaded (the page's own server unreachable): the next 401 tries again.
      policy.catch(() => policies.delete(key))
      policies.set(key, policy)
    }
    return policy
  }

  /**
   * The call's parts. A bodiless call is sent again as it came, with fresh headers; a call with a
   * body goes through a `Request` template cloned per attempt, so the same bytes are sent each
   * time. A `ReadableStream` body cannot be replayed: it is sent once. A `Request` input's body
   * counts unless `init.body` replaces it (`null` does not: fetch then sends the `Request`'s).
   */
  function prepare(input: RequestInfo | URL, init: RequestInit | undefined) {
    const request = input instanceof Request ? input : undefined
    const body = init?.body
    const given = init?.headers ?? request?.headers
    const template =
      body != null || (request !== undefined && request.body !== null)
        ? new Request(input, init)
        : undefined
    // The URL as fetch resolves it, read only where it decides something: the resource, `htu`.
    const target = extended ? (requestUrl(template ?? input) as URL) : undefined
    return {
      input,
      init,
      template,
      target,
      // One object for every attempt: fetch copies the headers when it is called.
      headers: given && new Headers(given),
      resource: target && options.apiOrigins.get(target.origin)?.resource,
      signal: init?.signal ?? request?.signal,
      replayable: !(body instanceof ReadableStream),
    }
  }
  type Call = ReturnType<typeof prepare>

  /** The method of `call` as fetch sends it (it upper-cases the standard ones only): `htm`. */
  function methodOf({ input, init, template }: Call): string {
    const given = template?.method ?? init?.method ?? (input as Request).method ?? 'GET'
    return /^(delete|get|head|options|post|put)$/i.test(given) ? given.toUpperCase() : given
  }

  /** Sends `call` with `token`, and once more if the API asks for a new DPoP nonce (§9). */
  async function attempt(call: Call, token: string): Promise<Response> {
    const { template, target, resource, replayable } = call
    const held = current(resource)
    const prover = dpop && (await dpop())
    // A token the server did not bind (it answered Bearer) goes without a proof.
    const bound =
      prover && (held?.accessToken === token ? held.tokenType : 'DPoP') === 'DPoP'
        ? prover
        : undefined
    for (let nonceRetry = false; ; nonceRetry = true) {
      const request = template && replayable ? template.clone() : template
      const authorization = `${bound ? 'DPoP' : 'Bearer'} ${token}`
      const proof = bound && (await bound.proof(methodOf(call), (target as URL).href, token))
      // The call's own headers with these set; a plain object when it has none, the cheapest
      // form for fetch.
      const headers = request?.headers ?? call.headers
      headers?.set('authorization', authorization)
      if (proof) headers?.set('dpop', proof)
      traffic.pending++
      let response: Response
      try {
        response = await (request
          ? options.fetch(request)
          : options.fetch(call.input, {
              ...call.init,
              headers: headers || (proof ? { authorization, dpop: proof } : { authorization }),
            }))
      } finally {
        traffic.done()
      }
      if (
        !prover?.learn((target as URL).href, response, proof || undefined) ||
        nonceRetry ||
        !replayable ||
        response.status !== 401 ||
        readChallengeError(response.headers.get('www-authenticate'), 'dpop') !== 'use_dpop_nonce'
      ) {
        return response
      }
      response.body?.cancel().catch(() => undefined)
    }
  }

  /**
   * After a 401 to `token`: that resource's policy, or the 401 as it is without one, or when the
   * DPoP challenge says `insufficient_scope` (RFC 9449 §7.1; the policy reads the Bearer one) or
   * still `use_dpop_nonce` after the retry with a new nonce (§9).
   */
  async function respond(call: Call, response: Response, token: string) {
    const challenge = readChallengeError(response.headers.get('www-authenticate'), 'dpop')
    // A nonce the API still wants after the one retry is no rejection of the token either.
    if (
      !call.replayable ||
      (dpop && (challenge === 'insufficient_scope' || challenge === 'use_dpop_nonce'))
    ) {
      return response
    }
    const policy = await policyFor(call.resource).catch(() => undefined)
    return policy
      ? policy.respond(response, token, call.signal, (next) => attempt(call, next))
      : response
  }

  async function send(
    input: RequestInfo | URL,
    init: RequestInit | undefined,
    asked: Promise<string> | undefined,
  ) {
    const call = prepare(input, init)
    // A call that brings its own credentials is the app's business.
    if (call.headers?.has('authorization')) return options.fetch(input, init)
    const token = await tokenFor(call.resource, call.signal, asked)
    const response = await attempt(call, token)
    if (response.status === 401) return respond(call, response, token)
    loaded.get(call.resource ?? '')?.accepted()
    return response
  }

  return {
    fetch(input, init, token) {
      // Like fetch, it never throws: a request fetch refuses rejects.
      try {
        return send(input, init, token)
      } catch (error) {
        return Promise.reject(error)
      }
    },
    // The common path sent a stream body already: its 401 is returned as it is.
    rejected: (input, init, response, token) =>
      init?.body instanceof ReadableStream
        ? Promise.resolve(response)
        : respond(prepare(input, init), response, token),
    accepted: () => loaded.get('')?.accepted(),
    async getAccessToken(resource, signal) {
      if (!options.resources.includes(resource)) {
        throw new TypeError('"resource" must be the resource of an "apiOrigins" entry')
      }
      return tokenFor(resource, signal)
    },
    dpop: () => (dpop as () => Promise<Dpop>)(),
    dispose: () => perResource?.dispose(),
  }
}
