// The page of the sign-in end-to-end tests: an app that signs in through freshtoken (built
// package) against a real OpenID Provider, and exposes what the tests observe on
// `window.signInApp` (see SignInAppHooks in ../sign-in-app.ts).
//
// Every page of the app (/, /callback, /signed-out) runs this script: on load it calls
// `auth.handleRedirect()`, as an app's router would on its redirect URI. The client's options
// come from `window.signInAppConfig`, which the browser context's init script sets (see
// SignInApp.newContext): the issuer, the client id, the userinfo URL and the storage.
import { createTokenClient, isAuthError } from 'freshtoken'

const config = window.signInAppConfig
if (config === undefined) throw new Error('window.signInAppConfig is not set')

/** sessionStorage key: when the "Sign in" button was clicked (epoch ms), across the redirect. */
const CLICKED_AT = 'sign-in-app:clicked-at'
/** sessionStorage key: when the page that started the sign-in was left for the provider. */
const LEFT_AT = 'sign-in-app:left-at'

addEventListener('pagehide', () => {
  if (sessionStorage.getItem(CLICKED_AT) !== null)
    sessionStorage.setItem(LEFT_AT, String(Date.now()))
})

/** How often each client event fired in this page. */
const events = { tokens: 0, refresh: 0, expired: 0, logout: 0, error: 0, 'session-ending': 0 }
/** When (epoch ms) each event fired, in order. */
const timeline = []
/** Raw responses the SDK's fetch received: userinfo (and its 401s), token endpoint (and errors). */
const responses = { api: 0, api401s: 0, token: 0, tokenErrors: 0 }
/** 'error' event codes and failed API calls, in order. */
const failures = []

const issuerOrigin = new URL(config.issuer).origin
const urlOf = (input) =>
  typeof input === 'string' ? input : input instanceof URL ? input.href : input.url

/** The SDK's fetch: the browser's, counting what comes back. */
async function countingFetch(input, init) {
  const response = await globalThis.fetch(input, init)
  const url = urlOf(input)
  if (url === config.userinfoUrl) {
    responses.api += 1
    if (response.status === 401) responses.api401s += 1
  } else if (url === `${issuerOrigin}/token`) {
    responses.token += 1
    if (!response.ok) responses.tokenErrors += 1
  }
  return response
}

const options = {
  clientId: config.clientId,
  issuer: config.issuer,
  redirectUri: config.redirectUri ?? '/callback',
  scope: 'openid offline_access',
  apiOrigins: [issuerOrigin],
  storage: config.storage ?? 'memory',
  fetch: countingFetch,
}
if (config.refreshLeeway !== undefined) options.refreshLeeway = config.refreshLeeway

const auth = createTokenClient(options)
for (const name of Object.keys(events)) {
  auth.on(name, (payload) => {
    events[name] += 1
    timeline.push({ type: name, at: Date.now() })
    if (name === 'error') failures.push(`error event: ${payload?.code ?? payload}`)
  })
}

const codeOf = (error) => (isAuthError(error) ? error.code : String(error))

/** What the tests read of a rejection: LoginError's `error` and `errorDescription` included. */
function describeError(error) {
  return {
    name: error?.name ?? String(error),
    code: error?.code,
    error: error?.error,
    errorDescription: error?.errorDescription,
    message: error?.message ?? String(error),
  }
}

/** What the tests read of a token set: tokens as they are, the refresh token only as a flag. */
function describeTokens(tokens) {
  return {
    accessToken: tokens.accessToken,
    hasRefreshToken: tokens.refreshToken !== undefined,
    hasIdToken: tokens.idToken !== undefined,
    expiresAt: tokens.expiresAt,
  }
}

/** The outcome of `handleRedirect()` on this page load. */
const redirect = { status: 'pending' }
auth.handleRedirect().then(
  (result) => {
    if (result === null) {
      redirect.status = 'none'
      return
    }
    const clickedAt = Number(sessionStorage.getItem(CLICKED_AT))
    const leftAt = Number(sessionStorage.getItem(LEFT_AT))
    sessionStorage.removeItem(CLICKED_AT)
    sessionStorage.removeItem(LEFT_AT)
    Object.assign(redirect, {
      status: 'signed-in',
      tokens: describeTokens(result.tokens),
      state: result.state,
      clickedAt: clickedAt > 0 ? clickedAt : undefined,
      leftAt: leftAt > 0 ? leftAt : undefined,
      // When the navigation to this page (the callback) started.
      arrivedAt: Math.round(performance.timeOrigin),
      settledAt: Date.now(),
    })
  },
  (error) => {
    Object.assign(redirect, { status: 'failed', error: describeError(error) })
  },
)

/** Options of the next sign-in by each button (set by the tests). */
const loginOptions = {
  redirect: { prompt: 'consent', state: { returnTo: '/x' } },
  popup: { prompt: 'consent' },
}
/** Options of the next sign-out by the button (set by the tests). */
let logoutOptions = {}

/** The outcome of the last `loginPopup()`, or `idle` before the first. */
let popup = { status: 'idle' }
/** The outcome of the last `login()` call (it rejects only before leaving the page). */
const login = { status: 'idle' }

document.getElementById('login').addEventListener('click', () => {
  sessionStorage.setItem(CLICKED_AT, String(Date.now()))
  login.status = 'navigating'
  auth.login(loginOptions.redirect).catch((error) => {
    Object.assign(login, { status: 'failed', error: describeError(error) })
  })
})

document.getElementById('login-popup').addEventListener('click', () => {
  const clickedAt = Date.now()
  popup = { status: 'pending', clickedAt }
  const current = popup
  // Called in the click handler, as the SDK asks: it opens the popup before awaiting anything.
  auth.loginPopup(loginOptions.popup).then(
    (tokens) => {
      Object.assign(current, {
        status: 'signed-in',
        tokens: describeTokens(tokens),
        settledAt: Date.now(),
      })
    },
    (error) => {
      Object.assign(current, {
        status: 'failed',
        error: describeError(error),
        settledAt: Date.now(),
      })
    },
  )
})

document.getElementById('logout').addEventListener('click', () => {
  auth.logout(logoutOptions).catch((error) => failures.push(`logout: ${codeOf(error)}`))
})

/** One `auth.fetch(userinfo)`: its final status, or the code of the error it rejected with. */
async function userinfo() {
  try {
    const response = await auth.fetch(config.userinfoUrl)
    await response.arrayBuffer()
    if (response.status !== 200) failures.push(`userinfo: ${response.status}`)
    return response.status
  } catch (error) {
    failures.push(`userinfo: ${codeOf(error)}`)
    return codeOf(error)
  }
}

let loop

/** Calls userinfo every `intervalMs` until stopLoop(); the statuses are counted. */
function startLoop(intervalMs) {
  const state = { running: true, statuses: {} }
  const done = (async () => {
    while (state.running) {
      const status = await userinfo()
      state.statuses[status] = (state.statuses[status] ?? 0) + 1
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
  })()
  loop = { state, done }
}

/** Stops the loop; resolves with how many calls ended in each status (or error code). */
async function stopLoop() {
  if (loop === undefined) return {}
  loop.state.running = false
  await loop.done
  return loop.state.statuses
}

window.signInApp = {
  events,
  timeline,
  responses,
  failures,
  redirect,
  login,
  popup: () => popup,
  setLoginOptions(next) {
    Object.assign(loginOptions, next)
  },
  setLogoutOptions(next) {
    logoutOptions = next
  },
  session() {
    const { tokens } = auth
    if (tokens === null) return null
    return { ...describeTokens(tokens), sub: auth.idTokenClaims?.sub ?? null }
  },
  async getAccessToken() {
    try {
      return { token: await auth.getAccessToken() }
    } catch (error) {
      return { code: codeOf(error) }
    }
  },
  userinfo,
  startLoop,
  stopLoop,
}
