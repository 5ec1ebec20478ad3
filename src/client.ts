import { jwtDecode } from 'jwt-decode'
import type { KyInstance } from 'ky'
import type { ApiFetch } from './api-fetch.js'
import { createAuthFetch, requestUrl } from './auth-fetch.js'
import { Backoff } from './backoff.js'
import { loadCrossTab } from './cross-tab/cross-tab-loader.js'
import { alone } from './cross-tab/tabs.js'
import { createEmitter, type TokenClientEvents, type TokenClientListener } from './events.js'
import { createAuthKy } from './ky.js'
import { lazily } from './lazily.js'
import type { LoginContext, LoginOptions, LoginResult } from './login/context.js'
import type { IdTokenClaims } from './login/id-token.js'
import { type FetchFunction, resolveOptions, type TokenClientOptions } from './options.js'
import { createRefresher } from './refresh.js'
import { createSchedule } from './schedule.js'
import { createSession, type SessionChange } from './session.js'
import type { SessionEnd } from './session-end.js'
import { createSessionStore } from './storage.js'
import { exponentialPause, LOGOUT_WAIT, MAX_CHUNK } from './timing.js'
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
  /**
   * A valid access token, renewing first if it has expired: the token of `resource` (an
   * `apiOrigins` entry's, RFC 8707) when one is given, else the session's.
   * @throws {TypeError} for a `resource` no `apiOrigins` entry names
   */
  getAccessToken(options?: { signal?: AbortSignal; resource?: string }): Promise<string>
  /** Renews now, or joins the renewal in flight; resolves to the new tokens. */
  refresh(options?: { signal?: AbortSignal }): Promise<TokenSet>
  /** Subscribes to an event; returns the unsubscribe function. */
  on<E extends keyof TokenClientEvents>(event: E, listener: TokenClientListener<E>): () => void
  /**
   * The claims of the session's ID token (OpenID Connect Core §2), decoded, or `null` without one.
   * Checked at sign-in (§3.1.3.7), not signature-verified: it came from the token endpoint over TLS.
   */
  readonly idTokenClaims: IdTokenClaims | null
  /**
   * Starts the authorization-code flow with PKCE (RFC 7636, S256) by navigating this page to the
   * authorization endpoint; the page at `redirectUri` completes it with {@link handleRedirect}.
   * @throws {TypeError} without `redirectUri` or an authorization endpoint
   */
  login(options?: LoginOptions): Promise<void>
  /**
   * The same flow in a popup, opened at once (call it in a click handler); resolves to the new
   * session's tokens here, in the opener.
   * @throws {LoginError} `popup_blocked`, `popup_closed`, `popup_timeout`, or the provider's error
   */
  loginPopup(options?: LoginOptions): Promise<TokenSet>
  /**
   * Completes a sign-in on the page at `redirectUri`: `null` when `url` is no authorization
   * response for this client (or inside a popup, which hands the response to its opener);
   * otherwise starts the session (shared with the tabs), removes the response from the address
   * bar, and resolves to the tokens and the app's `state`.
   * @param url - @default location.href
   * @throws {LoginError} a replayed or foreign response (`state_mismatch`), the provider's error,
   *   a wrong `iss` or ID token
   */
  handleRedirect(url?: string): Promise<LoginResult | null>
  /**
   * Forgets the session in every tab and revokes the refresh token (RFC 7009, best effort,
   * bounded), or calls the session backend's `logout`. With `endSession`, then sends the browser
   * to the provider's end-session endpoint (OpenID Connect RP-Initiated Logout 1.0).
   */
  logout(options?: { endSession?: boolean; postLogoutRedirectUri?: string }): Promise<void>
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
  // The key of the stored session and the name of the tabs' channel and locks.
  const name = `freshtoken:${resolved.clientId}`
  const store = createSessionStore(resolved.storage, name)
  // The schedule and the sibling tabs are wired after the session; until then nothing listens.
  let onChange = (_change?: SessionChange): void => undefined
  const session = createSession(store, events, (change) => onChange(change))
  // DPoP (RFC 9449): its key, nonces and proofs are a chunk, loaded by the general path's.
  const dpop = resolved.dpop ? () => general().then((loaded) => loaded.dpop()) : undefined
  const endpoint = loadTokenEndpoint(resolved, dpop)
  const backoff = new Backoff()
  const traffic = new Traffic()
  const tabs = resolved.crossTab
    ? loadCrossTab(name, session, store, events, backoff, traffic)
    : alone(session)
  const renewal = {
    session,
    endpoint,
    events,
    tabs,
    backoff,
    traffic,
    refreshLeeway: resolved.refreshLeeway,
    backend: resolved.backend !== undefined,
  }
  const refresher = createRefresher(renewal)
  // The general path of API calls; loaded at once with DPoP or resource indicators (RFC 8707),
  // which take every call through it and renew the resources' tokens before they expire.
  let api: ApiFetch | undefined
  const general = lazily(() =>
    import('./api-fetch.js').then(
      (loaded) =>
        (api ??= loaded.createApiFetch(
          resolved,
          refresher,
          renewal,
          exponentialPause,
          name,
          requestUrl,
        )),
    ),
  )
  const schedule = createSchedule(
    session,
    refresher,
    resolved.resources.length < resolved.apiOrigins.size,
  )
  // The watch on the session's hard end is loaded once a session has one: the end of its
  // renewals, or for a session that cannot renew, its access token's expiry.
  const endOf = (tokens: TokenSet) =>
    tokens.refreshExpiresAt ?? (refresher.canRenew(tokens) ? undefined : tokens.expiresAt)
  /** The watch, once loaded; `null` once the client is disposed. */
  let end: SessionEnd | undefined | null
  const watchEnd = (): void => {
    const stored = session.active()
    if (end) end.update()
    else if (end !== null && stored && endOf(stored.tokens) !== undefined) {
      import('./session-end.js').then(
        ({ watchSessionEnd }) => {
          if (end !== null) {
            end ??= watchSessionEnd(session, events, resolved.sessionEndingNotice, endOf, MAX_CHUNK)
            end.update()
          }
        },
        // Not loaded (the page's own server unreachable): the next change of session tries again.
        () => undefined,
      )
    }
  }
  onChange = (change) => {
    schedule.update()
    watchEnd()
    tabs.changed?.(change)
  }
  schedule.update()
  watchEnd()
  const context: LoginContext = {
    options: resolved,
    endpoint,
    session,
    parse: parseTokenResponse,
    dpop,
  }
  // Sign-in is loaded by the first call that needs it.
  const signIn = () => import('./login/index.js')
  const authFetch = createAuthFetch(resolved, refresher, traffic, general)

  return {
    get tokens() {
      return session.state.status === 'active' ? session.state.stored.tokens : null
    },
    setTokens(response) {
      const stored = parseTokenResponse(response, Date.now(), undefined, resolved.dpop)
      session.replace(stored)
      return stored.tokens
    },
    fetch: authFetch,
    ky: createAuthKy(authFetch),
    getAccessToken: (opts) =>
      opts?.resource === undefined
        ? refresher.getAccessToken(opts?.signal)
        : general().then((api) => api.getAccessToken(opts.resource as string, opts.signal)),
    refresh: (opts) => refresher.refresh(opts?.signal),
    on: events.on,
    get idTokenClaims() {
      const idToken = session.active()?.tokens.idToken
      try {
        return idToken === undefined ? null : jwtDecode<IdTokenClaims>(idToken)
      } catch {
        return null
      }
    },
    login: async (opts) => (await signIn()).signInWithRedirect(context, opts),
    loginPopup(opts) {
      // Opened in the click's own turn, before anything is awaited, or a blocker stops it.
      const popup = globalThis.open('', 'freshtoken', 'popup')
      return signIn().then(
        (loaded) => loaded.signInWithPopup(context, popup, opts),
        (error: unknown) => {
          popup?.close()
          throw error
        },
      )
    },
    handleRedirect: async (url) => (await signIn()).handleRedirect(context, url),
    async logout(opts) {
      await session.ready
      // Let a renewal in flight finish, so the refresh token revoked is the newest one.
      await settledWithin(refresher.settled(), LOGOUT_WAIT)
      const stored = session.active()
      if (session.clear()) events.emit('logout', undefined)
      // A session backend may hold a session this page never saw (another tab signed in).
      if (stored || resolved.backend) await endpoint.revoke(stored?.tokens.refreshToken)
      if (opts?.endSession) {
        await (await signIn()).endSession(
          context,
          stored?.tokens.idToken,
          opts.postLogoutRedirectUri,
        )
      }
    },
    dispose() {
      api?.dispose()
      end?.dispose()
      end = null
      schedule.dispose()
      tabs.close?.()
      events.clear()
    },
  }
}
