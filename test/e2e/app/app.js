// The page of the end-to-end tests: an app that uses the built freshtoken package as any app
// would, and exposes what the tests observe on `window.testApp` (see TestApp in ../test-app.ts).
//
// The page, its token server and its API share one origin (the fixture server), so the token
// endpoint and the API origin follow from `location`. Query parameters choose the options:
//   clientId, refreshLeeway (ms), storage ('memory' | 'session' | 'local'), crossTab ('true' | 'false'),
//   api (repeatable: another origin added to `apiOrigins`, for cross-origin API tests)
import { createTokenClient, isAuthError } from 'freshtoken'

const params = new URLSearchParams(location.search)
const apiUrl = `${location.origin}/api`

/** Every raw response the SDK received, before its retry after a 401 hides the first one. */
const responses = { api: 0, api401s: 0, token: 0, tokenErrors: 0 }
/** How often each client event fired in this tab. */
const events = { tokens: 0, refresh: 0, expired: 0, logout: 0, error: 0 }
/** Codes of the 'error' events, of failed API calls and of failed token reads, in order. */
const failures = []
/**
 * When (epoch ms, the same clock in every tab) this tab sent token requests and API requests that
 * met a 401, and when its tokens changed, in order: to place a 401 relative to the renewals.
 */
const timeline = []

const urlOf = (input) =>
  typeof input === 'string' ? input : input instanceof URL ? input.href : input.url

/** The SDK's fetch: the browser's, counting what comes back. */
async function countingFetch(input, init) {
  const sentAt = Date.now()
  const response = await globalThis.fetch(input, init)
  const answeredAt = Date.now()
  const url = urlOf(input)
  if (url.startsWith(`${apiUrl}/`)) {
    responses.api += 1
    if (response.status === 401) {
      responses.api401s += 1
      timeline.push({ type: 'api401', sentAt, answeredAt })
    }
  } else if (url === `${location.origin}/token`) {
    responses.token += 1
    if (!response.ok) responses.tokenErrors += 1
    timeline.push({ type: 'token', sentAt, answeredAt, status: response.status })
  }
  return response
}

const options = {
  clientId: params.get('clientId') ?? 'spa',
  tokenEndpoint: `${location.origin}/token`,
  revocationEndpoint: `${location.origin}/revoke`,
  apiOrigins: [location.origin, ...params.getAll('api')],
  fetch: countingFetch,
}
if (params.has('refreshLeeway')) options.refreshLeeway = Number(params.get('refreshLeeway'))
if (params.has('storage')) options.storage = params.get('storage')
if (params.has('crossTab')) options.crossTab = params.get('crossTab') === 'true'

const auth = createTokenClient(options)
for (const name of Object.keys(events)) {
  auth.on(name, (payload) => {
    events[name] += 1
    if (name === 'tokens') timeline.push({ type: 'tokens', at: Date.now() })
    if (name === 'error') failures.push(`error event: ${payload?.code ?? payload}`)
  })
}

const codeOf = (error) => (isAuthError(error) ? error.code : String(error))

/** One API call: its final status, or the code of the error it rejected with. */
async function callApi() {
  try {
    const response = await auth.fetch(`${apiUrl}/me`)
    await response.arrayBuffer()
    return response.status
  } catch (error) {
    failures.push(`api call: ${codeOf(error)}`)
    return codeOf(error)
  }
}

/**
 * One `auth.fetch(url)` to any URL: its final status, the `WWW-Authenticate` header as script can
 * read it (null when the API does not expose it cross-origin), and how many token-endpoint
 * responses the call caused; or the code of the error it rejected with.
 */
async function fetchWithAuth(url) {
  const tokensBefore = responses.token
  try {
    const response = await auth.fetch(url)
    await response.arrayBuffer()
    return {
      status: response.status,
      wwwAuthenticate: response.headers.get('www-authenticate'),
      tokenRequests: responses.token - tokensBefore,
    }
  } catch (error) {
    return { code: codeOf(error), tokenRequests: responses.token - tokensBefore }
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
  loop.state.running = false
  await loop.done
  return loop.state.statuses
}

window.testApp = {
  events,
  responses,
  failures,
  timeline,
  visibility: () => document.visibilityState,
  accessToken: () => auth.tokens?.accessToken ?? null,
  setTokens: (tokenResponse) => auth.setTokens(tokenResponse).accessToken,
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
  logout: () => auth.logout(),
  callApi,
  fetchWithAuth,
  startLoop,
  stopLoop,
}
