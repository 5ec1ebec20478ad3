// The page of the DPoP end-to-end tests: an app that signs in through freshtoken (built package)
// with `dpop: true` at oidc-provider and calls two APIs, each with a token of its own (RFC 8707),
// and exposes what the tests observe on `window.dpopApp` (see DPoPAppHooks in ../dpop-app.ts).
//
// Every page of the app (/, /callback) runs this script: on load it calls `auth.handleRedirect()`.
// The client's options come from `window.dpopAppConfig`, which the browser context's init script
// sets (see DPoPApp.newContext).
import { createTokenClient, isAuthError } from 'freshtoken'

const config = window.dpopAppConfig
if (config === undefined) throw new Error('window.dpopAppConfig is not set')

const issuerOrigin = new URL(config.issuer).origin
const tokenEndpoint = `${issuerOrigin}/token`
const apiOrigins = new Set(config.apis.map((api) => api.origin))

/** How often each client event fired in this page. */
const events = { tokens: 0, refresh: 0, expired: 0, logout: 0, error: 0 }
/** 'error' event codes and failed API calls, in order. */
const failures = []
/**
 * What went over the wire, as the SDK's fetch saw it: every token request (before the SDK's
 * nonce retry hides the first), every API request, and how many proofs each public key signed.
 */
const wire = { token: [], api: [], proofKeys: {} }

const urlOf = (input) =>
  typeof input === 'string' ? input : input instanceof URL ? input.href : input.url

/** A JWS part as JSON. */
function jsonPart(jws, index) {
  const part = jws.split('.')[index] ?? ''
  return JSON.parse(atob(part.replace(/-/g, '+').replace(/_/g, '/')))
}

/** The `error` auth-param of a DPoP challenge (RFC 9449 §7.1), if any. */
function challengeError(response) {
  return /error="([^"]*)"/.exec(response.headers.get('www-authenticate') ?? '')?.[1]
}

/** The SDK's fetch: the browser's, recording what it sends and what comes back. */
async function recordingFetch(input, init) {
  const url = new URL(urlOf(input))
  const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : {}))
  const proof = headers.get('dpop')
  let proofNonce
  if (proof !== null) {
    const key = JSON.stringify(jsonPart(proof, 0).jwk)
    wire.proofKeys[key] = (wire.proofKeys[key] ?? 0) + 1
    proofNonce = jsonPart(proof, 1).nonce
  }
  const startedAt = Date.now()
  const response = await globalThis.fetch(input, init)
  const endedAt = Date.now()
  if (url.href === tokenEndpoint) {
    const form = new URLSearchParams(init?.body ?? '')
    const entry = {
      grantType: form.get('grant_type'),
      resource: form.get('resource'),
      refreshToken: form.get('refresh_token'),
      scope: form.get('scope'),
      proof: proof !== null,
      proofNonce: proofNonce !== undefined,
      status: response.status,
      nonceAnswered: response.headers.has('dpop-nonce'),
      startedAt,
      endedAt,
    }
    if (!response.ok) {
      entry.error = (
        await response
          .clone()
          .json()
          .catch(() => ({}))
      ).error
    } else {
      entry.tokenType = (
        await response
          .clone()
          .json()
          .catch(() => ({}))
      ).token_type
    }
    wire.token.push(entry)
  } else if (apiOrigins.has(url.origin)) {
    wire.api.push({
      origin: url.origin,
      method: (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase(),
      path: url.pathname,
      scheme: headers.get('authorization')?.split(' ')[0] ?? null,
      proof: proof !== null,
      proofNonce: proofNonce !== undefined,
      status: response.status,
      challenge: response.status === 401 ? (challengeError(response) ?? null) : null,
    })
  }
  return response
}

const auth = createTokenClient({
  clientId: config.clientId,
  issuer: config.issuer,
  redirectUri: '/callback',
  scope: config.scope,
  apiOrigins: config.apis.map(({ origin, resource }) => ({ origin, resource })),
  dpop: true,
  storage: config.storage ?? 'memory',
  fetch: recordingFetch,
})
for (const name of Object.keys(events)) {
  auth.on(name, (payload) => {
    events[name] += 1
    if (name === 'error') failures.push(`error event: ${payload?.code ?? payload}`)
  })
}

const codeOf = (error) => (isAuthError(error) ? error.code : String(error))

/** The session's tokens as the tests read them: all of them (the tests copy them out). */
function describeTokens(tokens) {
  return {
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken ?? null,
    tokenType: tokens.tokenType,
    expiresAt: tokens.expiresAt ?? null,
    hasIdToken: tokens.idToken !== undefined,
  }
}

/** The outcome of `handleRedirect()` on this page load. */
const redirect = { status: 'pending' }
auth.handleRedirect().then(
  (result) => {
    if (result === null) redirect.status = 'none'
    else Object.assign(redirect, { status: 'signed-in', tokens: describeTokens(result.tokens) })
  },
  (error) => {
    Object.assign(redirect, { status: 'failed', error: codeOf(error) })
  },
)

/** The outcome of the "Sign in" button's `login()` (it rejects only before leaving the page). */
const login = { status: 'idle' }
document.getElementById('login').addEventListener('click', () => {
  login.status = 'navigating'
  // offline_access needs prompt=consent at oidc-provider, or no refresh token is issued.
  auth.login({ prompt: 'consent' }).catch((error) => {
    Object.assign(login, { status: 'failed', error: codeOf(error) })
  })
})

/**
 * One `auth.fetch` to an API: GET `/me`, or POST `/echo` with a text body. Resolves to the final
 * status and the JSON body, or the code of the error it rejected with.
 */
async function call({ origin, path = '/me', body }) {
  try {
    const response = await auth.fetch(
      `${origin}${path}`,
      body === undefined
        ? undefined
        : { method: 'POST', body, headers: { 'content-type': 'text/plain' } },
    )
    const json = await response.json().catch(() => null)
    if (response.status !== 200) failures.push(`${origin}${path}: ${response.status}`)
    return { status: response.status, body: json }
  } catch (error) {
    failures.push(`${origin}${path}: ${codeOf(error)}`)
    return { status: codeOf(error) }
  }
}

let loop

/**
 * Calls every API in parallel, again every `intervalMs` until stopLoop(): GET /me, and every
 * fourth round POST /echo with a body. Counts the outcomes by origin, the `jkt`s /me answered,
 * and echoes that did not give the body back.
 */
function startLoop(intervalMs) {
  const state = { running: true, rounds: 0, statuses: {}, jkts: {}, badEchoes: 0 }
  const done = (async () => {
    while (state.running) {
      const round = state.rounds++
      await Promise.all(
        config.apis.map(async ({ origin }) => {
          const echo = round % 4 === 3
          const sent = `round ${round}`
          const { status, body } = await call(
            echo ? { origin, path: '/echo', body: sent } : { origin },
          )
          state.statuses[origin] ??= {}
          const byOrigin = state.statuses[origin]
          byOrigin[status] = (byOrigin[status] ?? 0) + 1
          if (status !== 200) return
          if (echo && body?.body !== sent) state.badEchoes += 1
          if (!echo) state.jkts[body?.jkt] = (state.jkts[body?.jkt] ?? 0) + 1
        }),
      )
      await new Promise((resolve) => setTimeout(resolve, intervalMs))
    }
  })()
  loop = { state, done }
}

/** Stops the loop; resolves with what it counted. */
async function stopLoop() {
  if (loop === undefined) return null
  loop.state.running = false
  await loop.done
  const { rounds, statuses, jkts, badEchoes } = loop.state
  return { rounds, statuses, jkts, badEchoes }
}

/**
 * The DPoP keys the SDK keeps in IndexedDB for this client, read as another script of the origin
 * could: the private key's properties, whether it can be exported, and the public JWK. Empty
 * when the SDK's database does not exist (it is not created here: opening it without the SDK's
 * upgrade would leave it without its store).
 */
async function storedKeys() {
  const databases = await indexedDB.databases()
  if (!databases.some((database) => database.name === 'freshtoken-dpop')) return []
  const database = await new Promise((resolve, reject) => {
    const request = indexedDB.open('freshtoken-dpop')
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
  try {
    const stored = await new Promise((resolve, reject) => {
      const read = database
        .transaction('keys', 'readonly')
        .objectStore('keys')
        .get(`freshtoken:${config.clientId}`)
      read.onsuccess = () => resolve(read.result)
      read.onerror = () => reject(read.error)
    })
    return Promise.all(
      (stored ?? []).map(async ({ jkt, pair }) => {
        const { privateKey, publicKey } = pair
        let exportError = null
        try {
          await crypto.subtle.exportKey('jwk', privateKey)
        } catch (error) {
          exportError = error.name
        }
        return {
          jkt,
          isCryptoKey: privateKey instanceof CryptoKey,
          type: privateKey.type,
          extractable: privateKey.extractable,
          algorithm: { ...privateKey.algorithm },
          usages: privateKey.usages,
          exportError,
          publicJwk: await crypto.subtle.exportKey('jwk', publicKey),
        }
      }),
    )
  } finally {
    database.close()
  }
}

window.dpopApp = {
  events,
  failures,
  wire,
  redirect,
  login,
  session() {
    const { tokens } = auth
    return tokens === null ? null : describeTokens(tokens)
  },
  async getAccessToken(resource) {
    try {
      return { token: await auth.getAccessToken(resource === null ? undefined : { resource }) }
    } catch (error) {
      return { code: codeOf(error) }
    }
  },
  async refresh() {
    try {
      return describeTokens(await auth.refresh())
    } catch (error) {
      return { code: codeOf(error) }
    }
  },
  call,
  startLoop,
  stopLoop,
  storedKeys,
  /** `auth.dispose()`: no more proactive renewals from this tab. */
  dispose() {
    auth.dispose()
  },
  /** Forgets what was recorded so far (the session stays). */
  resetRecords() {
    wire.token.length = 0
    wire.api.length = 0
    wire.proofKeys = {}
    failures.length = 0
    for (const name of Object.keys(events)) events[name] = 0
  },
}
