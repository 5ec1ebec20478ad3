import type { KyInstance } from 'ky'
import { createAuthFetch } from './auth-fetch.js'
import { Backoff } from './backoff.js'
import { alone, createCrossTab } from './cross-tab/cross-tab.js'
import { createEmitter, type TokenClientEvents, type TokenClientListener } from './events.js'
import { createAuthKy } from './ky.js'
import { type FetchFunction, resolveOptions, type TokenClientOptions } from './options.js'
import { createRefresher } from './refresh.js'
import { createSchedule } from './schedule.js'
import { createSession, type SessionChange } from './session.js'
import { createSessionStore } from './storage.js'
import { DRAIN_WAIT, LOGOUT_WAIT, MAX_PAUSE_IN_RENEWAL } from './timing.js'
import { loadTokenEndpoint } from './token-endpoint-loader.js'
import { parseTokenResponse, type TokenResponse, type TokenSet } from './token-set.js'
import { Traffic } from './traffic.js'
import { settledWithin } from './waiting.js'

/** A token client: one session, its lifecycle, and the ways to call APIs with it. */
export interface TokenClient {
  /** The current tokens, or `null` when there is no active session. */
  readonly tokens: TokenSet | null
  /**
   * Starts (or replaces) the session with a token response from the token endpoint.
   * @throws {InvalidTokenResponseError} when `response` is not an RFC 6749 §5.1 token response
   */
  setTokens(response: TokenResponse): TokenSet
  /** Drop-in `fetch`: same arguments, same `Response`; attaches and renews the access token. */
  readonly fetch: FetchFunction
  /** A ky instance on the same lifecycle. */
  readonly ky: KyInstance
  /** A valid access token, renewing first if it has expired. */
  getAccessToken(options?: { signal?: AbortSignal }): Promise<string>
  /** Renews now, or joins the renewal in flight; resolves to the new tokens. */
  refresh(options?: { signal?: AbortSignal }): Promise<TokenSet>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends keyof TokenClientEvents>(event: E, listener: TokenClientListener<E>): () => void
  /** Revokes the refresh token (RFC 7009, best effort, bounded) and forgets the session. */
  logout(): Promise<void>
  /** Stops timers and page listeners, leaves the sibling tabs, and removes event listeners. */
  dispose(): void
}

/**
 * Creates a token client that keeps a browser app signed in.
 *
 * @param options - see {@link TokenClientOptions}
 * @returns the client
 * @throws {TypeError} when an option is invalid
 * @example
 * ```ts
 * const auth = createTokenClient({
 *   clientId: 'spa',
 *   tokenEndpoint: 'https://auth.example.com/oauth/token',
 *   apiOrigins: ['https://api.example.com'],
 * })
 * auth.setTokens(tokenResponseFromLogin)
 * const me = await auth.ky.get('https://api.example.com/me').json()
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function createTokenClient(options: TokenClientOptions): TokenClient {
  const resolved = resolveOptions(options)
  const events = createEmitter()
  const endpoint = loadTokenEndpoint(resolved)
  // The key of the stored session and the name of the tabs' channel and locks.
  const name = `freshtoken:${resolved.clientId}`
  const store = createSessionStore(resolved.storage, name)
  // The schedule and the sibling tabs are wired after the session; until then nothing listens.
  let onChange = (_change?: SessionChange): void => undefined
  const session = createSession(store, events, (change) => onChange(change))
  const backoff = new Backoff()
  const traffic = new Traffic()
  const tabs = resolved.crossTab
    ? createCrossTab(name, session, store, events, backoff, traffic)
    : alone(session)
  const refresher = createRefresher({
    session,
    endpoint,
    events,
    tabs,
    backoff,
    maxPauseInPlace: MAX_PAUSE_IN_RENEWAL,
    traffic,
    drainWait: DRAIN_WAIT,
    refreshLeeway: resolved.refreshLeeway,
  })
  const schedule = createSchedule(session, refresher)
  onChange = (change) => {
    schedule.update()
    tabs.changed?.(change)
  }
  schedule.update()
  const authFetch = createAuthFetch(resolved, refresher, session, events, traffic)

  return {
    get tokens() {
      return session.state.status === 'active' ? session.state.stored.tokens : null
    },
    setTokens(response) {
      const stored = parseTokenResponse(response, Date.now())
      session.replace(stored)
      return stored.tokens
    },
    fetch: authFetch,
    ky: createAuthKy(authFetch),
    getAccessToken: (opts) => refresher.getAccessToken(opts?.signal),
    refresh: (opts) => refresher.refresh(opts?.signal),
    on: events.on,
    async logout() {
      await session.ready
      // Let a renewal in flight finish, so the refresh token revoked is the newest one.
      await settledWithin(refresher.settled(), LOGOUT_WAIT)
      const { state } = session
      session.clear()
      if (state.status !== 'active') return
      events.emit('logout', undefined)
      await endpoint.revoke(state.stored.tokens.refreshToken)
    },
    dispose() {
      schedule.dispose()
      tabs.close?.()
      events.clear()
    },
  }
}
