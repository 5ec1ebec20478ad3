// @vitest-environment node
/**
 * Sign-in in real Chromium at Django OAuth Toolkit 1.7 (Debian's package), an OpenID Connect
 * provider that requires PKCE, from an app on another loopback origin: `auth.login()` sends the
 * page to DOT, the user logs in with Django's login form and approves DOT's consent page, and the
 * app's callback page completes the sign-in with `auth.handleRedirect()`. The session then
 * renews with DOT's refresh-token rotation, calls DOT's API through `auth.fetch`, and ends with
 * `auth.logout()`, which revokes the refresh token at DOT.
 *
 * What DOT does that the SDK has to cope with: its OpenID metadata is at
 * `{issuer}/.well-known/openid-configuration/` (with the slash: the URL freshtoken tries, without
 * it, is redirected there with a 301 that carries CORS headers), and it lists no
 * `revocation_endpoint`, so the app gives that one; its authorization responses carry no `iss`.
 *
 * The app's page (test/e2e/dot-sign-in-app/) is bundled with the built package, served by a
 * static server of this file, and configured through `/config.json` once DOT's port is known.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import type { Page } from 'playwright-core'
import { rollup } from 'rollup'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type DjangoOAuthToolkit,
  startDjangoOAuthToolkit,
} from '../servers/django-oauth-toolkit.js'
import { closeServer, listenOnLoopback, postForm } from '../servers/http-utils.js'
import { type ChromiumSession, E2E_TIME_LIMIT, launchChromium } from './chromium.js'

vi.setConfig(E2E_TIME_LIMIT)

/** Bounds each wait for a page or a navigation to get somewhere. */
const STEP_TIMEOUT = 20_000
/** The scopes the app asks for: OpenID Connect and the fixture's API. */
const SCOPE = 'openid api'

const appSource = fileURLToPath(new URL('./dot-sign-in-app/', import.meta.url))
const builtPackage = fileURLToPath(new URL('../../dist/index.js', import.meta.url))

/** A snapshot of the error an SDK call rejected with, as the page describes it. */
interface PageError {
  name: string
  message: string
  code?: string
  error?: string
  errorDescription?: string
}

interface PageSession {
  tokens: {
    accessToken: string
    refreshToken?: string
    idToken?: string
    tokenType: string
    scope?: string
    expiresAt: number
  } | null
  idTokenClaims: Record<string, unknown> | null
}

/** What the page exposes on `window.dotApp` (test/e2e/dot-sign-in-app/app.js). */
interface DotAppHooks {
  readonly events: readonly string[]
  readonly tokenResponses: readonly { grantType: string; status: number; members: string[] }[]
  readonly redirect:
    | { status: 'pending' | 'none' }
    | { status: 'signed-in'; state: unknown }
    | { status: 'failed'; error: PageError }
  session(): PageSession
  href(): string
  sessionStorage(): Record<string, string>
  login(options: { scope: string; state?: unknown }): Promise<'navigating' | PageError>
  refresh(): Promise<({ ok: true } & PageSession) | { ok: false; error: PageError }>
  callApi(): Promise<{ status?: number; body?: unknown; error?: PageError }>
  logout(): Promise<void>
}

declare global {
  interface Window {
    dotApp: DotAppHooks
  }
}

let chromium: ChromiumSession | undefined
let dot: DjangoOAuthToolkit | undefined
let app: { url: string; close(): Promise<void> } | undefined
let pageDir: string | undefined
const pages: Page[] = []

/** Bundles the page with the built package (`freshtoken` is dist/index.js) into `dir`. */
async function stagePage(dir: string): Promise<void> {
  const bundle = await rollup({
    input: join(appSource, 'app.js'),
    plugins: [
      { name: 'built-freshtoken', resolveId: (id) => (id === 'freshtoken' ? builtPackage : null) },
      nodeResolve({ browser: true }),
    ],
    onwarn(warning) {
      throw new Error(`bundling the DOT sign-in page: ${warning.message}`)
    },
  })
  try {
    const { output } = await bundle.generate({ format: 'es', inlineDynamicImports: true })
    writeFileSync(join(dir, 'app.js'), output[0].code)
  } finally {
    await bundle.close()
  }
  writeFileSync(join(dir, 'index.html'), await readFile(join(appSource, 'index.html')))
}

/**
 * Serves the staged page on its own loopback origin: `/app.js`, `/config.json`, and `index.html`
 * at every other path (`/` and the redirect URI `/callback`).
 */
async function serveApp(dir: string): Promise<{ url: string; close(): Promise<void> }> {
  const types: Record<string, string> = {
    'app.js': 'text/javascript',
    'config.json': 'application/json',
    'index.html': 'text/html; charset=utf-8',
  }
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://app').pathname.slice(1)
    const file = path === 'app.js' || path === 'config.json' ? path : 'index.html'
    readFile(join(dir, file)).then(
      (body) => {
        res.writeHead(200, { 'Content-Type': types[file] ?? '', 'Cache-Control': 'no-store' })
        res.end(body)
      },
      () => {
        res.writeHead(404, { 'Content-Length': '0' })
        res.end()
      },
    )
  })
  const url = await listenOnLoopback(server)
  return { url, close: () => closeServer(server) }
}

beforeAll(async () => {
  pageDir = mkdtempSync(join(tmpdir(), 'freshtoken-e2e-dot-sign-in-'))
  await stagePage(pageDir)
  app = await serveApp(pageDir)
  const [browser, server] = await Promise.allSettled([
    launchChromium(),
    startDjangoOAuthToolkit({
      allowedOrigins: [app.url],
      signInRedirectUris: [`${app.url}/callback`],
    }),
  ])
  // afterAll runs even when this fails, and stops whichever one started.
  if (browser.status === 'fulfilled') chromium = browser.value
  if (server.status === 'fulfilled') dot = server.value
  for (const result of [browser, server]) if (result.status === 'rejected') throw result.reason
  const started = dot as DjangoOAuthToolkit
  const config = {
    client: {
      clientId: started.signInClientId,
      // The endpoints come from DOT's OpenID metadata, but for the one it does not list.
      issuer: started.issuer,
      revocationEndpoint: started.oauthRevocationEndpoint,
      redirectUri: `${app.url}/callback`,
      apiOrigins: [started.url],
    },
    apiUrl: started.apiUrl,
  }
  writeFileSync(join(pageDir, 'config.json'), JSON.stringify(config))
})

beforeEach(async () => {
  // Each test logs in at DOT from scratch: no Django session from an earlier test.
  await chromium?.context.clearCookies()
  await dot?.resetStats()
})

afterEach(async () => {
  await Promise.all(pages.splice(0).map((page) => page.close()))
})

afterAll(async () => {
  await Promise.all([chromium?.close(), dot?.close(), app?.close()])
  if (pageDir !== undefined) rmSync(pageDir, { recursive: true, force: true })
})

/** An open page of the app, with what it logged: problems, and its metadata requests. */
interface AppPage {
  readonly page: Page
  /** Uncaught exceptions and console errors, but for the expected 404 of RFC 8414 discovery. */
  readonly problems: string[]
  /** Every answer to a `/.well-known/` URL (`status url`), or its failure, in order. */
  readonly metadataRequests: string[]
}

/** Opens the app at `/` and waits until its client exists and has seen no redirect. */
async function openApp(): Promise<AppPage> {
  const server = dot as DjangoOAuthToolkit
  const page = await (chromium as ChromiumSession).context.newPage()
  pages.push(page)
  // freshtoken tries RFC 8414 metadata first; DOT answers 404, which Chromium logs as an error.
  const rfc8414Url = `${server.url}/.well-known/oauth-authorization-server/o`
  const problems: string[] = []
  const metadataRequests: string[] = []
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  page.on('console', (message) => {
    if (message.type() === 'error' && message.location().url !== rfc8414Url) {
      problems.push(`console error: ${message.text()} (${message.location().url})`)
    }
  })
  page.on('response', (response) => {
    if (response.url().includes('/.well-known/')) {
      metadataRequests.push(`${response.status()} ${response.url()}`)
    }
  })
  page.on('requestfailed', (request) => {
    if (request.url().includes('/.well-known/')) {
      metadataRequests.push(`failed ${request.url()}: ${request.failure()?.errorText}`)
    }
  })
  await page.goto(`${app?.url}/`)
  expect(await waitForRedirectOutcome(page)).toEqual({ status: 'none' })
  return { page, problems, metadataRequests }
}

/** Waits until the page's `auth.handleRedirect()` has settled (on any page load). */
async function waitForRedirectOutcome(page: Page): Promise<DotAppHooks['redirect']> {
  await page.waitForFunction(
    () => window.dotApp !== undefined && window.dotApp.redirect.status !== 'pending',
    undefined,
    { timeout: STEP_TIMEOUT, polling: 50 },
  )
  return page.evaluate(() => window.dotApp.redirect)
}

/**
 * Calls `auth.login()` in the page and waits for the navigation it starts to reach DOT's login
 * form; fills it in as the fixture's user, and waits for DOT's consent page.
 */
async function signInAtDOT(page: Page, options: { scope: string; state?: unknown }) {
  const server = dot as DjangoOAuthToolkit
  const started = await page
    .evaluate((loginOptions) => window.dotApp.login(loginOptions), options)
    // The navigation may destroy the page's context before the call's answer comes back.
    .catch((error: Error) => {
      if (/context was destroyed|navigat/i.test(error.message)) return 'navigating'
      throw error
    })
  expect(started).toBe('navigating')

  await page.waitForURL((url) => url.href.startsWith(`${server.url}/accounts/login/`), {
    timeout: STEP_TIMEOUT,
  })
  await page.fill('input[name="username"]', server.user.username)
  await page.fill('input[name="password"]', server.user.password)
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(server.authorizationEndpoint), {
      timeout: STEP_TIMEOUT,
    }),
    page.click('button[type="submit"]'),
  ])
  await page.waitForSelector('#authorizationForm', { timeout: STEP_TIMEOUT })
}

/** Answers DOT's consent page, and waits for the callback page's `handleRedirect()`. */
async function answerConsent(page: Page, decision: 'Authorize' | 'Cancel') {
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(`${app?.url}/callback`), {
      timeout: STEP_TIMEOUT,
    }),
    page.click(`#authorizationForm input[type="submit"][value="${decision}"]`),
  ])
  return waitForRedirectOutcome(page)
}

describe('sign-in at Django OAuth Toolkit in Chromium', () => {
  it('signs in with PKCE through the login form and consent page, renews with rotation, calls the API and revokes on logout', async () => {
    const server = dot as DjangoOAuthToolkit
    const { page, problems, metadataRequests } = await openApp()

    await signInAtDOT(page, { scope: SCOPE, state: { returnTo: '/orders' } })
    // DOT's consent page lists what the app asked for.
    const consent = await page.textContent('#authorizationForm')
    expect(consent).toContain('Authorize freshtoken sign-in?')
    expect(consent).toContain('Sign you in (OpenID Connect)')
    expect(consent).toContain("Call the fixture's API")

    const outcome = await answerConsent(page, 'Authorize')
    expect(outcome).toEqual({ status: 'signed-in', state: { returnTo: '/orders' } })
    // The authorization response is gone from the address bar, the attempt from the tab.
    expect(await page.evaluate(() => window.dotApp.href())).toBe(`${app?.url}/callback`)
    expect(await page.evaluate(() => window.dotApp.sessionStorage())).toEqual({})

    const signedIn = await page.evaluate(() => window.dotApp.session())
    expect(signedIn.tokens).toMatchObject({
      accessToken: expect.any(String),
      refreshToken: expect.any(String),
      idToken: expect.any(String),
      tokenType: 'Bearer',
      scope: SCOPE,
    })
    // DOT's ID token: its issuer, for this client, the user's id as `sub`, the nonce sent.
    expect(signedIn.idTokenClaims).toMatchObject({
      iss: server.issuer,
      aud: server.signInClientId,
      sub: server.user.sub,
      nonce: expect.any(String),
      exp: expect.any(Number),
      iat: expect.any(Number),
      auth_time: expect.any(Number),
    })
    // Discovery: RFC 8414 metadata first (DOT has none), then OpenID metadata without the
    // slash, which DOT redirects to the URL with it. Chromium followed the redirect through CORS.
    const discovery = [
      `404 ${server.url}/.well-known/oauth-authorization-server/o`,
      `301 ${server.issuer}/.well-known/openid-configuration`,
      `200 ${server.issuer}/.well-known/openid-configuration/`,
    ]
    expect(metadataRequests.slice(0, 3)).toEqual(discovery)
    expect(metadataRequests.filter((entry) => !discovery.includes(entry))).toEqual([])
    expect(await server.stats()).toMatchObject({
      tokenRequests: 1,
      authorizationCodeGrants: 1,
      invalidGrants: 0,
    })

    // A renewal rotates the refresh token; DOT deletes the access token it replaces.
    const renewed = await page.evaluate(() => window.dotApp.refresh())
    if (!renewed.ok) throw new Error(`refresh failed: ${JSON.stringify(renewed.error)}`)
    expect(renewed.tokens?.refreshToken).toEqual(expect.any(String))
    expect(renewed.tokens?.refreshToken).not.toBe(signedIn.tokens?.refreshToken)
    expect(renewed.tokens?.accessToken).not.toBe(signedIn.tokens?.accessToken)
    expect(renewed.tokens?.scope).toBe(SCOPE)
    // DOT's refresh answer carries no ID token (oauthlib 3.2's OpenID server renews with the
    // plain OAuth 2.0 grant): the session keeps the one from the sign-in.
    expect(await page.evaluate(() => window.dotApp.tokenResponses)).toEqual([
      {
        grantType: 'authorization_code',
        status: 200,
        members: ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type'],
      },
      {
        grantType: 'refresh_token',
        status: 200,
        members: ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'],
      },
    ])
    expect(renewed.tokens?.idToken).toBe(signedIn.tokens?.idToken)
    expect(renewed.idTokenClaims).toEqual(signedIn.idTokenClaims)
    expect(await server.stats()).toMatchObject({ refreshGrants: 1, rotations: 1, invalidGrants: 0 })

    // The API answers the renewed token, from the app's origin through CORS...
    expect(await page.evaluate(() => window.dotApp.callApi())).toEqual({
      status: 200,
      body: { sub: server.user.username, client_id: server.signInClientId, scope: SCOPE },
    })
    // ... and no longer the one it replaced.
    const replaced = await fetch(`${server.apiUrl}/me`, {
      headers: { Authorization: `Bearer ${signedIn.tokens?.accessToken}` },
    })
    expect(replaced.status).toBe(401)

    // Logout revokes the refresh token at DOT (RFC 7009), which deletes its access token too.
    await page.evaluate(() => window.dotApp.logout())
    expect(await page.evaluate(() => window.dotApp.session())).toEqual({
      tokens: null,
      idTokenClaims: null,
    })
    expect((await server.stats()).revocationRequests).toBe(1)
    const refused = await postForm(server.oauthTokenEndpoint, {
      grant_type: 'refresh_token',
      refresh_token: renewed.tokens?.refreshToken ?? '',
      client_id: server.signInClientId ?? '',
    })
    expect({ status: refused.status, body: JSON.parse(refused.body) }).toEqual({
      status: 400,
      body: { error: 'invalid_grant' },
    })
    const revoked = await fetch(`${server.apiUrl}/me`, {
      headers: { Authorization: `Bearer ${renewed.tokens?.accessToken}` },
    })
    expect(revoked.status).toBe(401)

    expect(await page.evaluate(() => window.dotApp.events)).toEqual([
      'tokens',
      'tokens',
      'refresh',
      'logout',
    ])
    expect(problems).toEqual([])
  })

  it("rejects handleRedirect with LoginError 'access_denied' when the user cancels on DOT's consent page", async () => {
    const server = dot as DjangoOAuthToolkit
    const { page, problems } = await openApp()

    await signInAtDOT(page, { scope: SCOPE })
    const outcome = await answerConsent(page, 'Cancel')

    expect(outcome).toEqual({
      status: 'failed',
      error: expect.objectContaining({
        name: 'LoginError',
        code: 'login_failed',
        error: 'access_denied',
      }),
    })
    expect(await page.evaluate(() => window.dotApp.href())).toBe(`${app?.url}/callback`)
    expect(await page.evaluate(() => window.dotApp.session())).toEqual({
      tokens: null,
      idTokenClaims: null,
    })
    // No code, so nothing was redeemed.
    expect((await server.stats()).tokenRequests).toBe(0)
    expect(problems).toEqual([])
  })
})
