// The page of the Django OAuth Toolkit sign-in test (../django-oauth-toolkit-sign-in.test.ts): an
// app on its own loopback origin that signs in at DOT with the built freshtoken package, as any
// app would, and exposes what the test observes on `window.dotApp`.
//
// The same page is served at every path: at `/` the app starts a sign-in, at `/callback` (the
// redirect URI) it completes one. The client's options come from `/config.json`, written by the
// test once DOT's port is known.
import { createTokenClient, isAuthError } from 'freshtoken'

const config = await (await fetch('/config.json', { cache: 'no-store' })).json()

/**
 * The token endpoint's answers, as the names of their members (never their values) by grant type:
 * what DOT sends, for example whether a refresh answer carries a new `id_token`.
 */
const tokenResponses = []

/** The SDK's fetch: the browser's, noting the members of each token endpoint answer. */
async function notingFetch(input, init) {
  const response = await globalThis.fetch(input, init)
  const grantType = init?.body instanceof URLSearchParams ? init.body.get('grant_type') : null
  if (grantType !== null) {
    const body = await response
      .clone()
      .json()
      .catch(() => ({}))
    tokenResponses.push({ grantType, status: response.status, members: Object.keys(body).sort() })
  }
  return response
}

const auth = createTokenClient({ ...config.client, fetch: notingFetch })

/** Client events, in order, by name. */
const events = []
for (const name of ['tokens', 'refresh', 'expired', 'logout', 'error']) {
  auth.on(name, (payload) => events.push(name === 'error' ? `error:${payload?.code}` : name))
}

/** What the test may read of an error: never a token (the SDK puts none in its errors). */
function describe(error) {
  const { name, message, code, error: providerError, errorDescription } = error ?? {}
  return {
    name: String(name),
    message: String(message),
    code: isAuthError(error) ? code : undefined,
    error: providerError,
    errorDescription,
  }
}

/** The session as the app sees it. */
function session() {
  const tokens = auth.tokens
  return {
    tokens: tokens && {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      idToken: tokens.idToken,
      tokenType: tokens.tokenType,
      scope: tokens.scope,
      expiresAt: tokens.expiresAt,
    },
    idTokenClaims: auth.idTokenClaims,
  }
}

window.dotApp = {
  events,
  tokenResponses,
  /**
   * The outcome of `auth.handleRedirect()` on this page load: `pending`, then `none` (no
   * authorization response here), `signed-in` (with the app's state) or `failed`.
   */
  redirect: { status: 'pending' },
  session,
  /** `location.href` now: the SDK removes the authorization response from the address bar. */
  href: () => location.href,
  /** What this tab keeps in its sessionStorage (the sign-in attempts), by key. */
  sessionStorage: () => Object.fromEntries(Object.entries(sessionStorage)),
  /**
   * `auth.login(options)`: resolves `navigating` once the SDK sent the page to DOT, or with the
   * error it rejected with (a failed discovery, for example).
   */
  login: (options) =>
    auth.login(options).then(
      () => 'navigating',
      (error) => describe(error),
    ),
  /** `auth.refresh()`: the new session, or the error. */
  refresh: () =>
    auth.refresh().then(
      () => ({ ok: true, ...session() }),
      (error) => ({ ok: false, error: describe(error) }),
    ),
  /** One `auth.fetch` of the API: its status and JSON body, or the error. */
  callApi: async () => {
    try {
      const response = await auth.fetch(`${config.apiUrl}/me`)
      return { status: response.status, body: await response.json() }
    } catch (error) {
      return { error: describe(error) }
    }
  },
  logout: () => auth.logout(),
}

auth.handleRedirect().then(
  (result) => {
    window.dotApp.redirect =
      result === null ? { status: 'none' } : { status: 'signed-in', state: result.state }
  },
  (error) => {
    window.dotApp.redirect = { status: 'failed', error: describe(error) }
  },
)
