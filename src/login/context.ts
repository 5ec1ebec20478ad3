import type { Dpop } from '../dpop/dpop.js'
import type { ResolvedOptions } from '../options.js'
import type { Session } from '../session.js'
import type { StoredSession } from '../storage.js'
import type { TokenEndpoint } from '../token-endpoint-loader.js'
import type { TokenSet } from '../token-set.js'

/** What sign-in works with, from the main bundle (passed in, so the chunk imports no internals). */
export interface LoginContext {
  readonly options: ResolvedOptions
  readonly endpoint: TokenEndpoint
  readonly session: Session
  /** The main bundle's `parseTokenResponse`. */
  readonly parse: (
    body: unknown,
    receivedAt: number,
    previous: undefined,
    dpop: boolean,
  ) => StoredSession
  /** The DPoP prover, with the `dpop` option (RFC 9449). */
  readonly dpop: (() => Promise<Dpop>) | undefined
  /**
   * The `handleRedirect` of this client's URL: a second call for the same URL (React StrictMode
   * runs effects twice) gets the same result instead of a `state_mismatch`.
   */
  handled?: { readonly url: string; readonly result: Promise<LoginResult | null> }
}

/** Options of `login()` and `loginPopup()` (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1). */
export interface LoginOptions {
  /** @default the client's `scope` option */
  scope?: string
  /** `none`, `login`, `consent`, `select_account`. */
  prompt?: string
  /** Sent as `login_hint`. */
  loginHint?: string
  /** App data (JSON), returned by `handleRedirect` with the tokens; it never leaves the tab. */
  state?: unknown
  /**
   * More authorization request parameters (`audience`, `resource`, `ui_locales`, …). Those
   * freshtoken sets itself cannot be given here.
   */
  params?: Record<string, string>
}

/** What a completed sign-in resolves to. */
export interface LoginResult {
  readonly tokens: TokenSet
  /** The `state` option of the `login()` call. */
  readonly state: unknown
}

/** The message a popup sends its opener, and the only one the opener listens to. */
export const POPUP_MESSAGE = 'freshtoken:authorization-response'
