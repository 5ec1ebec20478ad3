// The chunk of clients with resource indicators (RFC 8707), loaded with the general path of
// `auth.fetch` (api-fetch.ts). It imports only public error classes from the main bundle; what
// else it needs is passed in.
import { NoSessionError, SessionExpiredError, TokenEndpointUnavailableError } from './errors.js'
import type { Refresher } from './refresh.js'
import type { RenewalParts } from './renewal.js'
import type { StoredSession } from './storage.js'
import type { TokenSet } from './token-set.js'

/** The access tokens of the session, one per resource (RFC 8707), and their renewals. */
export interface ResourceTokens {
  /**
   * The tokens to send to `resource`: valid beyond the leeway, or renewed first; inside the
   * leeway the current token is used while a renewal starts.
   *
   * @throws {AuthError} the renewal's failure, or the end of the session
   */
  tokens(resource: string, signal?: AbortSignal | null): Promise<TokenSet>
  /**
   * Renews the token of `resource` until it is another than `rejected`: one renewal, or a few
   * when other renewals of the session moved it on first.
   */
  renew(resource: string, rejected: string | undefined): Promise<TokenSet>
  /** The token calls to `resource` are sent with now, if any. */
  current(resource: string): TokenSet | undefined
  /** Stops the proactive renewals. */
  dispose(): void
}

/**
 * Whether a resource's entry of a restored or adopted session can be used: the session's storage
 * format keeps the resources' entries as they were written, so they are checked here, before
 * their token goes into a header, as the session's own token is checked when it is read: a token
 * is visible ASCII (RFC 6749 Appendix A.12), of a known type.
 */
function isUsable(entry: unknown): entry is StoredSession {
  const { accessToken, tokenType, expiresAt } = ((entry as StoredSession | undefined)?.tokens ??
    {}) as Partial<TokenSet>
  return (
    typeof accessToken === 'string' &&
    /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(accessToken) &&
    (tokenType === 'Bearer' || tokenType === 'DPoP') &&
    (expiresAt === undefined || typeof expiresAt === 'number')
  )
}

/**
 * How long a resource's renewal waits for a renewal of the session in flight first (the session's
 * own, here or in a sibling tab): as long as a call waits for one (`INFLIGHT_WAIT` in timing.ts;
 * test/sim/timing-drift.test.ts checks they agree). A sibling that went silent mid-renewal (it
 * crashed, froze or was disposed) must not hold this tab's renewals for ever.
 */
export const SESSION_RENEWAL_WAIT = 5_000

/** How often a call tries to get a resource's token while other renewals move the session on. */
const MAX_ROUNDS = 4
/** The longest timer: a longer one is re-armed, so a sleeping machine cannot make it late. */
const MAX_TIMER = 60_000

/** Rejects when `signal` aborts; otherwise settles as `promise` does. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | null | undefined): Promise<T> {
  if (!signal) return promise
  signal.throwIfAborted()
  return Promise.race([
    promise,
    new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
    ),
  ])
}

/**
 * Creates the session's per-resource tokens (RFC 8707 §2): each resource's access token comes from
 * the session's one refresh token with `resource`, on first need, and is renewed before it
 * expires. Renewals of different resources are serialised in this tab (and by the tabs' lock
 * between tabs), since each may rotate the refresh token; each commits the whole session, which
 * the sibling tabs adopt.
 *
 * @param configured - the resources of the `apiOrigins` entries: a stored token of any other is
 *   never renewed (a server may rotate the refresh token before it refuses a resource the sign-in
 *   did not name)
 * @param refresher - the session's refresher
 * @param renewal - the parts of a renewal, shared with the refresher: one queue of token requests
 * @returns the resource tokens
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function createResourceTokens(
  configured: readonly string[],
  refresher: Refresher,
  renewal: RenewalParts,
): ResourceTokens {
  const { session, events } = renewal
  let loading: Promise<typeof import('./token-server.js')> | undefined
  /** The renewal's code, loaded once (again after a failed load). */
  const server = () =>
    (loading ??= import('./token-server.js').catch((error: unknown) => {
      loading = undefined
      throw error
    }))
  // From now on every renewal of the session, its own too, waits for the one before it in this
  // tab: a resource's renewal that stops waiting for a silent sibling must still never run
  // beside this tab's own.
  server().then(
    ({ takeTurns }) => takeTurns(renewal),
    () => undefined,
  )
  const inflight = new Map<string, Promise<StoredSession>>()
  const entryOf = (resource: string) => {
    const resources = session.active()?.resources
    const entry = resources && Object.hasOwn(resources, resource) ? resources[resource] : undefined
    return isUsable(entry) ? entry : undefined
  }
  const left = (tokens: TokenSet) => (tokens.expiresAt ?? Infinity) - Date.now()

  /** Waits for a renewal of the session in flight, at most {@link SESSION_RENEWAL_WAIT}. */
  async function sessionRenewalSettled(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([
      refresher.settled(),
      new Promise((resolve) => {
        timer = setTimeout(resolve, SESSION_RENEWAL_WAIT)
      }),
    ])
    clearTimeout(timer)
  }

  /**
   * Starts the renewal of `resource`'s token, or joins the one in flight. Never throws: without a
   * session it rejects with that error (no_session, session_expired).
   */
  function renewResource(resource: string): Promise<StoredSession> {
    let renewing = inflight.get(resource)
    if (renewing === undefined) {
      const { state } = session
      if (state.status !== 'active') {
        return Promise.reject(
          state.status === 'expired' ? new SessionExpiredError() : new NoSessionError(),
        )
      }
      const { stored } = state
      if (!refresher.canRenew(stored.tokens)) {
        return Promise.reject(new SessionExpiredError('No refresh token to get a resource token'))
      }
      const paused = renewal.backoff.paused
      if (paused) return Promise.reject(paused)
      // The session as it is now is the one to renew: a sibling's renewal this one waits for
      // below moves it on, and then nothing is left to renew (each tab's timer fires alike).
      const from = session.generation
      renewing = server()
        .then(
          async ({ renew, takeTurns }) => {
            takeTurns(renewal)
            // The session's own renewal in flight goes first: both rotate the refresh token.
            await sessionRenewalSettled()
            return renew(renewal, from, resource)
          },
          () => {
            throw new TokenEndpointUnavailableError('token endpoint code not loaded')
          },
        )
        .finally(() => inflight.delete(resource))
      inflight.set(resource, renewing)
    }
    return renewing
  }

  async function tokens(resource: string, signal?: AbortSignal | null) {
    await abortable(session.ready, signal)
    for (let round = 0; ; round++) {
      signal?.throwIfAborted()
      // A call without a session gets that error (no_session, session_expired).
      session.current()
      const entry = entryOf(resource)
      if (entry !== undefined) {
        const remaining = left(entry.tokens)
        if (remaining > refresher.leewayFor(entry)) return entry.tokens
        if (remaining > 0) {
          // Inside the leeway: this call goes with the current token, the renewal starts.
          renewResource(resource).catch(() => undefined)
          return entry.tokens
        }
      }
      if (round === MAX_ROUNDS) {
        throw new TokenEndpointUnavailableError('no token for the resource after several renewals')
      }
      await abortable(renewResource(resource), signal)
    }
  }

  const current = (resource: string) => entryOf(resource)?.tokens

  let timer: ReturnType<typeof setTimeout> | undefined
  /** Arms the timer of the next proactive renewal: the resource whose leeway begins first. */
  function schedule(): void {
    clearTimeout(timer)
    let due = Infinity
    let next: string | undefined
    for (const resource of configured) {
      const entry = entryOf(resource)
      if (entry === undefined) continue
      const at = (entry.tokens.expiresAt ?? Infinity) - refresher.leewayFor(entry)
      if (at < due) [due, next] = [at, resource]
    }
    if (next === undefined) return
    const wait = Math.max(due, refresher.notBefore) - Date.now()
    timer = setTimeout(
      () => {
        if (wait > MAX_TIMER) schedule()
        // A session that ended meanwhile has nothing to renew.
        else if (session.active()) renewResource(next).catch(() => undefined)
      },
      Math.max(0, Math.min(wait, MAX_TIMER)),
    )
  }
  const stops = [
    events.on('tokens', schedule),
    // The end of the session stops the timer: nothing is left to renew.
    events.on('logout', () => clearTimeout(timer)),
    events.on('expired', () => clearTimeout(timer)),
  ]
  schedule()

  return {
    tokens,
    current,
    async renew(resource, rejected) {
      let renewed: TokenSet | undefined
      for (let round = 0; round <= MAX_ROUNDS; round++) {
        await renewResource(resource)
        renewed = entryOf(resource)?.tokens
        if (renewed !== undefined && renewed.accessToken !== rejected) return renewed
      }
      if (renewed === undefined)
        throw new TokenEndpointUnavailableError('no token for the resource')
      return renewed
    },
    dispose() {
      for (const stop of stops) stop()
      clearTimeout(timer)
    },
  }
}
