// The freshtoken demo page: the SDK as an app uses it, against the mock token server running in
// this page (or a real one), or, at /sign-in, signing in at the demo's OpenID Provider
// (demo/auth-server.mjs), with its lifecycle made visible. See demo/index.html.
import { createTokenClient, isAuthError } from 'freshtoken'
import { watchLifecycle } from './lifecycle.js'
import { startMockBackend } from './mock-backend.js'
import { createSessionView } from './session-view.js'
import { readSettings, SIGN_IN_PATH } from './settings.js'
import { createTimeline } from './timeline.js'

/** How many calls "Fire 50 parallel calls" fires. */
const PARALLEL_CALLS = 50

/**
 * @param {string} id - an element id of index.html
 * @returns {HTMLElement} the element
 */
function byId(id) {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} is missing from index.html`)
  return element
}

/**
 * @param {RequestInfo | URL} input - what was passed to fetch
 * @returns {string} the URL it requests
 */
function urlOf(input) {
  if (typeof input === 'string') return new URL(input, location.href).href
  return input instanceof URL ? input.href : input.url
}

/**
 * @param {unknown} error - why a call failed
 * @returns {string} a line for the page (never a token: freshtoken's messages carry none)
 */
function describeFailure(error) {
  if (isAuthError(error)) return `${error.code}: ${error.message}`
  return error instanceof Error ? error.message : String(error)
}

/**
 * Shows the outcome of a control on the page, with data attributes for the end-to-end test.
 *
 * @param {Record<string, string | number>} data - `action` and counts
 * @param {string} text - what happened, in words
 */
function showResult(data, text) {
  const result = byId('result')
  for (const key of Object.keys(result.dataset)) delete result.dataset[key]
  for (const [key, value] of Object.entries(data)) result.dataset[key] = String(value)
  result.textContent = text
}

/**
 * What demo/serve.mjs tells the sign-in page about its OpenID Provider.
 *
 * @typedef {object} ProviderConfig
 * @property {string} issuer - the provider's issuer, `http://127.0.0.1:<port>`
 * @property {string} clientId - the demo's client id there
 * @property {number} sessionEndingNotice - milliseconds before the session's end to warn
 * @property {number} accessTokenTtl - access token lifetime, in seconds
 * @property {number} sessionTtl - the session's lifetime from the login, in seconds
 */

/**
 * @returns {Promise<ProviderConfig>} the provider the demo server started
 * @throws {Error} when the page is served without one (not by demo/serve.mjs)
 */
async function readProviderConfig() {
  const response = await fetch('/demo-config.json')
  const config = response.ok ? await response.json() : {}
  if (typeof config.issuer !== 'string') {
    throw new Error('no OpenID Provider: start the demo with `npm run demo`')
  }
  return config
}

async function main() {
  const settings = readSettings(location.search, location.pathname)
  document.body.dataset.mode = settings.mode
  byId(settings.mode === 'sign-in' ? 'nav-sign-in' : 'nav-mock').setAttribute(
    'aria-current',
    'page',
  )
  const timeline = createTimeline(/** @type {HTMLOListElement} */ (byId('timeline')))
  const mock = settings.mode === 'mock' ? await startMockBackend(settings) : null
  const provider = settings.mode === 'sign-in' ? await readProviderConfig() : null
  const real = settings.mode === 'real' ? settings : null
  // oidc-provider's endpoints are its defaults; freshtoken itself finds them by discovery.
  const tokenEndpoint =
    mock?.endpoints.token ?? (provider ? `${provider.issuer}/token` : real?.tokenEndpoint)
  const revocationEndpoint =
    mock?.endpoints.revocation ??
    (provider ? `${provider.issuer}/token/revocation` : real?.revocationEndpoint)
  const apiURL = mock
    ? `${mock.endpoints.api}/me`
    : provider
      ? `${provider.issuer}/me`
      : /** @type {string} */ (real?.api)
  if (mock !== null) {
    byId('backend').textContent =
      `Mock token server running in this page (msw service worker), access tokens live ${
        /** @type {import('./settings.js').MockSettings} */ (settings).accessTokenLifetime / 1000
      } s.`
  } else if (provider !== null) {
    byId('backend').textContent =
      `OpenID Provider (oidc-provider) at ${provider.issuer}: any login and password; access ` +
      `tokens live ${provider.accessTokenTtl} s, a session ${provider.sessionTtl} s from the ` +
      `login; "Call the API" asks its userinfo endpoint.`
  } else {
    byId('backend').textContent = `Real token server: ${tokenEndpoint}, API ${apiURL}.`
  }

  // Watches every request freshtoken makes, to count them and to show 401 retries, which fire no
  // event of their own.
  const counts = { token: 0, api: 0, api401: 0 }
  /** @type {import('freshtoken').FetchFunction} */
  const observedFetch = async (input, init) => {
    const url = urlOf(input)
    const response = await fetch(input, init)
    if (url === tokenEndpoint) {
      counts.token += 1
      timeline.add('token-request', `POST token endpoint → ${response.status}`)
    } else if (url === revocationEndpoint) {
      timeline.add('token-request', `POST revocation endpoint → ${response.status}`)
    } else if (url === apiURL) {
      counts.api += 1
      if (response.status === 401) {
        counts.api401 += 1
        timeline.add('retry-401', 'API answered 401: freshtoken renews (once) and retries')
      }
    }
    renderCounters()
    return response
  }

  const auth = createTokenClient(
    provider === null
      ? {
          clientId: real?.clientId ?? 'spa',
          tokenEndpoint: /** @type {string} */ (tokenEndpoint),
          ...(revocationEndpoint === undefined ? {} : { revocationEndpoint }),
          apiOrigins: [new URL(apiURL).origin],
          fetch: observedFetch,
        }
      : {
          clientId: provider.clientId,
          issuer: provider.issuer,
          redirectUri: SIGN_IN_PATH,
          // offline_access: a refresh token (oidc-provider grants it only with prompt=consent).
          scope: 'openid offline_access',
          sessionEndingNotice: provider.sessionEndingNotice,
          // A reload keeps the session.
          storage: 'session',
          apiOrigins: [new URL(apiURL).origin],
          fetch: observedFetch,
        },
  )
  const view = createSessionView(auth)
  const lifecycle = watchLifecycle(
    auth,
    timeline,
    (change) => {
      if (change !== 'active') view.setEnded(change)
      view.render()
    },
    (endsAt) => view.setEnding(endsAt),
  )

  function renderCounters() {
    // The mock's own counter in mock mode, as the issue asks; the same number as counts.token.
    byId('token-requests').textContent = String(mock?.counters.token ?? counts.token)
    byId('api-calls').textContent = String(counts.api)
    byId('api-401s').textContent = String(counts.api401)
  }
  const tokenRequests = () => mock?.counters.token ?? counts.token

  /**
   * Runs a control's action, showing its failure instead of throwing it.
   *
   * @param {string} id - the button's id
   * @param {() => Promise<void> | void} action - what the button does
   */
  function onClick(id, action) {
    byId(id).addEventListener('click', async () => {
      try {
        await action()
      } catch (error) {
        showResult({ action: id, failed: 1 }, `Failed: ${describeFailure(error)}`)
      }
      renderCounters()
      view.render()
    })
  }

  onClick('call-api', async () => {
    try {
      const response = await auth.fetch(apiURL)
      const body = await response.text()
      timeline.add('api', `GET ${new URL(apiURL).pathname} → ${response.status}`)
      showResult(
        { action: 'call-api', ok: response.ok ? 1 : 0, status: response.status },
        `GET ${apiURL} → ${response.status} ${body.slice(0, 120)}`,
      )
    } catch (error) {
      timeline.add('api', `GET ${new URL(apiURL).pathname} failed: ${describeFailure(error)}`)
      showResult({ action: 'call-api', ok: 0, failed: 1 }, `Failed: ${describeFailure(error)}`)
    }
  })

  onClick('call-api-parallel', async () => {
    const before = tokenRequests()
    const results = await Promise.allSettled(
      Array.from({ length: PARALLEL_CALLS }, () => auth.fetch(apiURL)),
    )
    const ok = results.filter((result) => result.status === 'fulfilled' && result.value.ok).length
    const renewals = tokenRequests() - before
    timeline.add('api', `${PARALLEL_CALLS} parallel calls: ${ok} succeeded`)
    showResult(
      { action: 'call-api-parallel', ok, failed: PARALLEL_CALLS - ok, tokenRequests: renewals },
      `${PARALLEL_CALLS} parallel calls: ${ok} succeeded, ${PARALLEL_CALLS - ok} failed; ` +
        `token requests during the burst: ${renewals}`,
    )
  })

  onClick('expire-now', () => {
    mock?.expireAccessTokens()
    timeline.add('control', 'the mock now rejects every access token issued so far (expired)')
    showResult({ action: 'expire-now' }, 'Access tokens expired at the server. Call the API.')
  })

  onClick('revoke-refresh', () => {
    mock?.revokeRefreshTokens()
    timeline.add(
      'control',
      'the mock revoked every refresh token: the next renewal ends the session',
    )
    showResult({ action: 'revoke-refresh' }, 'Refresh tokens revoked. The next renewal fails.')
  })

  onClick('logout', async () => {
    if (provider !== null) {
      showResult({ action: 'logout' }, 'Signing out at the OpenID Provider…')
      // Revokes the refresh token, then goes to the provider's end-session page, which comes back.
      await auth.logout({
        endSession: true,
        postLogoutRedirectUri: new URL(SIGN_IN_PATH, location.href).href,
      })
      return
    }
    await auth.logout()
    showResult({ action: 'logout' }, 'Logged out; the refresh token was revoked (RFC 7009).')
  })

  /** @returns {string} who is signed in, from the ID token */
  const signedInAs = () => String(auth.idTokenClaims?.sub ?? 'someone')

  onClick('login', async () => {
    showResult({ action: 'login' }, 'Going to the OpenID Provider…')
    await auth.login({ prompt: 'consent' })
  })

  onClick('login-popup', async () => {
    // Called in the click handler itself, before any await: browsers allow the popup then.
    await lifecycle.signIn('popup', () => auth.loginPopup({ prompt: 'consent' }))
    showResult({ action: 'login-popup', ok: 1 }, `Signed in with a popup as ${signedInAs()}.`)
  })

  onClick('sign-in', () => {
    if (mock === null) return
    lifecycle.setTokens(mock.issueTokens())
    showResult({ action: 'sign-in' }, 'Signed in again (a new session from the mock).')
  })

  onClick('open-tab', () => {
    window.open(location.href, '_blank')
    timeline.add('control', 'opened another tab: it joins this session')
  })

  for (const button of document.querySelectorAll('[data-mock-only]')) {
    button.toggleAttribute('disabled', mock === null)
  }
  byId('counters-note').hidden = mock === null
  byId('settings-panel').hidden = provider !== null

  if (real !== null) {
    // Show the settings in use, ready to edit.
    const settingsForm = /** @type {HTMLFormElement} */ (byId('settings-form'))
    for (const [name, value] of new URLSearchParams(location.search)) {
      const field = settingsForm.elements.namedItem(name)
      if (field instanceof HTMLInputElement) field.value = value
    }
    byId('settings').toggleAttribute('open', true)
  }

  const tokenForm = /** @type {HTMLFormElement} */ (byId('token-form'))
  tokenForm.addEventListener('submit', (event) => {
    event.preventDefault()
    const field = /** @type {HTMLTextAreaElement} */ (tokenForm.elements.namedItem('tokenResponse'))
    try {
      lifecycle.setTokens(JSON.parse(field.value))
      field.value = ''
      tokenForm.hidden = true
    } catch (error) {
      showResult(
        { action: 'set-tokens', failed: 1 },
        `Not a token response: ${describeFailure(error)}`,
      )
    }
  })

  if (provider !== null) {
    // This page is the redirect URI: a login's answer comes back here, in this tab or a popup.
    const query = new URLSearchParams(location.search)
    const isAnswer = query.has('state') || query.has('code') || query.has('error')
    try {
      const result = await lifecycle.signIn('redirect', () => auth.handleRedirect())
      if (result !== null) {
        showResult({ action: 'sign-in', ok: 1 }, `Signed in as ${signedInAs()}.`)
      }
    } catch (error) {
      timeline.add('error', `sign-in failed: ${describeFailure(error)}`)
      showResult({ action: 'sign-in', failed: 1 }, `Sign-in failed: ${describeFailure(error)}`)
    }
    // In a popup, handleRedirect handed the answer to the opener and closes this window.
    if (isAnswer && window.opener !== null) return
  }

  // A new tab joins the session of the tabs already open (freshtoken asks them for it); only when
  // there is none does it start one: from the mock, or from a token response pasted by the user.
  try {
    await auth.getAccessToken()
  } catch (error) {
    if (!isAuthError(error) || error.code !== 'no_session') throw error
    if (provider !== null) {
      view.setEnded('none')
    } else if (mock === null) {
      view.setEnded('none')
      tokenForm.hidden = false
    } else {
      lifecycle.setTokens(mock.issueTokens())
    }
  }
  view.render()
  renderCounters()
  document.body.dataset.ready = 'true'
}

main().catch((error) => {
  byId('backend').textContent = `The demo could not start: ${describeFailure(error)}`
  throw error
})
