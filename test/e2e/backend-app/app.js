// The page of the session-backend end-to-end tests: an app that uses the built freshtoken package
// with `backend` (a token-mediating backend on its own origin, test/servers/cookie-backend.ts) and
// exposes what the tests observe on `window.backendApp` (see BackendAppHooks in ../backend-app.ts).
//
// The page never sees a refresh token and never calls setTokens: it signs in by POSTing to the
// backend's `/auth/login` (which sets the httpOnly refresh cookie) and then only calls its API.
// Query parameters choose the options the tests vary:
//   refreshLeeway (ms), sessionEndingNotice (ms)
import { createTokenClient, isAuthError } from 'freshtoken'

const params = new URLSearchParams(location.search)

/** How often each client event fired in this tab. */
const events = { tokens: 0, refresh: 0, expired: 0, logout: 0, error: 0, 'session-ending': 0 }
/**
 * Client events in order, with when (epoch ms, the same clock in every tab and in the test) they
 * fired: the `endsAt` of 'session-ending', the code of 'error', and for 'tokens' the session's
 * hard end the new tokens carry (`refreshExpiresAt`).
 */
const log = []
/** Codes of the 'error' events and of failed API calls, in order. */
const failures = []
/** The requests the SDK sent to the backend (refresh, logout) and the API, with their answers. */
const requests = []

const pathOf = (input) =>
  new URL(typeof input === 'string' || input instanceof URL ? input : input.url, location.href)
    .pathname

/** The SDK's fetch: the browser's, writing down what went out and what came back. */
async function loggingFetch(input, init) {
  const sentAt = Date.now()
  const path = pathOf(input)
  try {
    const response = await globalThis.fetch(input, init)
    requests.push({ path, sentAt, answeredAt: Date.now(), status: response.status })
    return response
  } catch (error) {
    requests.push({ path, sentAt, answeredAt: Date.now(), status: 0 })
    throw error
  }
}

const options = {
  backend: {
    refresh: '/auth/refresh',
    logout: '/auth/logout',
    headers: { 'X-CSRF': '1' },
    response: (body) => ({
      access_token: body.accessToken,
      token_type: 'Bearer',
      expires_in: body.expiresIn,
      refresh_expires_in: body.refreshExpiresIn,
    }),
  },
  storage: 'memory',
  fetch: loggingFetch,
}
if (params.has('refreshLeeway')) options.refreshLeeway = Number(params.get('refreshLeeway'))
if (params.has('sessionEndingNotice')) {
  options.sessionEndingNotice = Number(params.get('sessionEndingNotice'))
}

const auth = createTokenClient(options)
const codeOf = (error) => (isAuthError(error) ? error.code : String(error))

for (const name of Object.keys(events)) {
  auth.on(name, (payload) => {
    events[name] += 1
    const entry = { type: name, at: Date.now() }
    if (name === 'session-ending') entry.endsAt = payload.endsAt
    if (name === 'tokens') entry.endsAt = payload.refreshExpiresAt ?? null
    if (name === 'error') {
      entry.code = codeOf(payload)
      failures.push(`error event: ${entry.code}`)
    }
    log.push(entry)
  })
}

/** One `auth.fetch('/api/me')`: its final status, or the code of the error it rejected with. */
async function callApi() {
  try {
    const response = await auth.fetch('/api/me')
    await response.arrayBuffer()
    if (response.status !== 200) failures.push(`api call: ${response.status}`)
    return response.status
  } catch (error) {
    failures.push(`api call: ${codeOf(error)}`)
    return codeOf(error)
  }
}

let loop

/** Calls the API every `intervalMs` until stopLoop(); the statuses are counted. */
function startLoop(intervalMs) {
  const state = { running: true, statuses: {} }
  const done = (async () => {
    while (state.running) {
      const status = await callApi()
      state.statuses[status] = (state.statuses[status] ?? 0) + 1
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
  })()
  loop = { state, done }
}

/** Stops the loop and resolves with how many calls ended in each status (or error code). */
async function stopLoop() {
  if (loop === undefined) return {}
  const { state, done } = loop
  loop = undefined
  state.running = false
  await done
  return state.statuses
}

window.backendApp = {
  events,
  log,
  failures,
  requests,
  /** The app's own sign-in: the backend sets the refresh cookie; the page keeps nothing. */
  async login() {
    const response = await fetch('/auth/login', { method: 'POST' })
    await response.arrayBuffer()
    return response.status
  },
  documentCookie: () => document.cookie,
  accessToken: () => auth.tokens?.accessToken ?? null,
  refreshExpiresAt: () => auth.tokens?.refreshExpiresAt ?? null,
  async getAccessToken() {
    try {
      return { token: await auth.getAccessToken() }
    } catch (error) {
      return { code: codeOf(error) }
    }
  },
  async refresh() {
    try {
      return { token: (await auth.refresh()).accessToken }
    } catch (error) {
      return { code: codeOf(error) }
    }
  },
  async logout() {
    try {
      await auth.logout()
      return null
    } catch (error) {
      return codeOf(error)
    }
  },
  callApi,
  startLoop,
  stopLoop,
}
