// @vitest-environment node
/**
 * An API on another origin than the page, in real Chromium: real CORS preflights, and the
 * browser's own decision whether script may read the API's `WWW-Authenticate` header (happy-dom
 * ignores `Access-Control-Expose-Headers`, so only a real browser can show this).
 *
 * The page and its token server share one origin (the `@node-oauth/oauth2-server` fixture); the
 * API is a small `node:http` server on another port, so another origin. It validates nothing: each
 * test decides its answers, and it records what the browser sent.
 */
import { createServer, type IncomingMessage } from 'node:http'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { closeServer, listenOnLoopback, sendJson } from '../servers/http-utils.js'
import { type ChromiumSession, E2E_TIME_LIMIT, launchChromium } from './chromium.js'
import { startTestApp, type TestApp, type TestTab } from './test-app.js'

vi.setConfig(E2E_TIME_LIMIT)

/** RFC 6750 §3.1: the token is fine, but it lacks the scope this resource needs. */
const INSUFFICIENT_SCOPE = 'Bearer error="insufficient_scope", scope="admin"'
const INVALID_TOKEN = 'Bearer error="invalid_token"'
const EXPOSE_CHALLENGE = { 'Access-Control-Expose-Headers': 'WWW-Authenticate' }
/** Chromium reports every 4xx answer on the console; these tests cause 401s and 403s on purpose. */
const EXPECTED_CONSOLE_ERROR =
  /^console error: Failed to load resource: the server responded with a status of 40[13]/

/** One request the API received, preflights excepted. */
interface ApiRequest {
  method: string
  path: string
  /** The `Authorization` header, if the browser sent one. */
  authorization: string | undefined
}

/** How the API answers one request. */
interface ApiAnswer {
  status: number
  headers?: Record<string, string>
}

/** A protected API on its own loopback origin that answers with CORS for one page origin. */
interface CrossOriginApi {
  /** Origin of the API, `http://127.0.0.1:<port>`. */
  readonly url: string
  /** Requests received, in order, preflights excepted. */
  readonly requests: ApiRequest[]
  /** CORS preflights (`OPTIONS`) received. */
  preflights: number
  /** Decides each answer; 200 with a JSON body unless a test says otherwise. */
  answer: (request: ApiRequest) => ApiAnswer
  close(): Promise<void>
}

/**
 * Starts an API that lets `pageOrigin` send `Authorization` and read its answers, as a real
 * cross-origin API configures CORS. Whether `WWW-Authenticate` is exposed is up to each answer.
 * `Access-Control-Max-Age: 0` keeps Chromium from caching preflights, so that every request with
 * a token is preflighted and the counts do not depend on the order of the tests.
 */
async function startCrossOriginApi(pageOrigin: string): Promise<CrossOriginApi> {
  const corsHeaders = (req: IncomingMessage): Record<string, string> =>
    req.headers.origin === pageOrigin
      ? { Vary: 'Origin', 'Access-Control-Allow-Origin': pageOrigin }
      : { Vary: 'Origin' }
  const server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      api.preflights++
      res.writeHead(204, {
        ...corsHeaders(req),
        'Access-Control-Allow-Methods': 'GET, POST',
        'Access-Control-Allow-Headers': 'Authorization',
        'Access-Control-Max-Age': '0',
        'Content-Length': '0',
      })
      res.end()
      return
    }
    const request: ApiRequest = {
      method: req.method ?? 'GET',
      path: new URL(req.url ?? '/', 'http://api.invalid').pathname,
      authorization: req.headers.authorization,
    }
    api.requests.push(request)
    const { status, headers = {} } = api.answer(request)
    sendJson(res, status, status === 200 ? { ok: true } : { error: status }, {
      ...corsHeaders(req),
      ...headers,
    })
  })
  const api: CrossOriginApi = {
    url: await listenOnLoopback(server),
    requests: [],
    preflights: 0,
    answer: () => ({ status: 200 }),
    close: () => closeServer(server),
  }
  return api
}

let chromium: ChromiumSession
let app: TestApp
/** In the page's `apiOrigins`. */
let api: CrossOriginApi
/** Not in the page's `apiOrigins`, but would accept a token (and its preflight) if sent one. */
let stranger: CrossOriginApi
let tab: TestTab

beforeAll(async () => {
  ;[chromium, app] = await Promise.all([
    launchChromium(),
    // Long-lived tokens: the only renewals are the ones the tests cause.
    startTestApp({ accessTokenLifetime: 3_600 }),
  ])
  ;[api, stranger] = await Promise.all([startCrossOriginApi(app.url), startCrossOriginApi(app.url)])
  tab = await app.openTab(chromium.context, { apiOrigins: [api.url] })
  await tab.run((hooks, tokens) => hooks.setTokens(tokens), await app.server.login())
})

beforeEach(() => {
  for (const server of [api, stranger]) {
    server.requests.length = 0
    server.preflights = 0
    server.answer = () => ({ status: 200 })
  }
  app.server.resetCounters()
})

afterEach(() => {
  expect(tab.problems.filter((problem) => !EXPECTED_CONSOLE_ERROR.test(problem))).toEqual([])
})

afterAll(async () => {
  await Promise.all([chromium?.close(), app?.close(), api?.close(), stranger?.close()])
})

const currentToken = () => tab.run((hooks) => hooks.accessToken())
const fetchWithAuth = (url: string) => tab.run((hooks, target) => hooks.fetchWithAuth(target), url)

describe('a cross-origin API in Chromium', () => {
  it.each([403, 401])(
    'returns an exposed %i insufficient_scope challenge as is, without renewing',
    async (status) => {
      const token = await currentToken()
      api.answer = () => ({
        status,
        headers: { 'WWW-Authenticate': INSUFFICIENT_SCOPE, ...EXPOSE_CHALLENGE },
      })

      const result = await fetchWithAuth(`${api.url}/reports`)

      expect(result).toEqual({ status, wwwAuthenticate: INSUFFICIENT_SCOPE, tokenRequests: 0 })
      expect(app.server.counters.refreshGrants).toBe(0)
      expect(api.requests).toEqual([
        { method: 'GET', path: '/reports', authorization: `Bearer ${token}` },
      ])
      expect(api.preflights).toBe(1)
      expect(await currentToken()).toBe(token)
    },
  )

  it('renews once on a 401 whose insufficient_scope challenge the API does not expose', async () => {
    // Without `Access-Control-Expose-Headers: WWW-Authenticate` the browser receives the challenge
    // but hides it from script: `response.headers.get('www-authenticate')` is null for any script
    // on the page, the SDK included. What it sees is a plain 401, so it renews once and retries
    // once, and the second 401 is returned. Nothing in the page can tell; the fix is on the API's
    // side: expose the header (RFC 6750 §3 challenges are meant to be read by the client).
    const token = await currentToken()
    api.answer = () => ({ status: 401, headers: { 'WWW-Authenticate': INSUFFICIENT_SCOPE } })
    const firstAnswer = tab.page.waitForResponse((response) => response.url().startsWith(api.url), {
      timeout: 5_000,
    })

    const result = await fetchWithAuth(`${api.url}/reports`)

    // The challenge did reach the browser: only script is kept from reading it.
    expect((await firstAnswer).headers()['www-authenticate']).toBe(INSUFFICIENT_SCOPE)
    expect(result).toEqual({ status: 401, wwwAuthenticate: null, tokenRequests: 1 })
    expect(app.server.counters.refreshGrants).toBe(1)
    const renewed = await currentToken()
    expect(renewed).not.toBe(token)
    expect(api.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${token}`,
      `Bearer ${renewed}`,
    ])
    expect(api.preflights).toBe(2)

    // The renewed token was rejected too, so 401s pause renewals (the circuit breaker) until the
    // API accepts a token again: here, at once.
    api.answer = () => ({ status: 200 })
    expect(await fetchWithAuth(`${api.url}/me`)).toMatchObject({ status: 200, tokenRequests: 0 })
  })

  it('renews once on a plain 401, retries through a new preflight, and returns the 200', async () => {
    const token = await currentToken()
    // An expired token, as the API sees it: the first token is rejected, any other accepted.
    let rejected: string | undefined
    api.answer = (request) => {
      rejected ??= request.authorization
      return request.authorization === rejected
        ? { status: 401, headers: { 'WWW-Authenticate': INVALID_TOKEN, ...EXPOSE_CHALLENGE } }
        : { status: 200 }
    }

    const result = await fetchWithAuth(`${api.url}/me`)

    expect(result).toEqual({ status: 200, wwwAuthenticate: null, tokenRequests: 1 })
    expect(app.server.counters.refreshGrants).toBe(1)
    const renewed = await currentToken()
    expect(renewed).not.toBe(token)
    expect(api.requests.map((request) => request.authorization)).toEqual([
      `Bearer ${token}`,
      `Bearer ${renewed}`,
    ])
    expect(api.preflights).toBe(2)
  })

  it.each([
    ['another origin', () => stranger, false],
    ['the API', () => api, true],
  ] as const)(
    'resolves a relative URL against a <base> element that points at %s, as fetch does',
    async (_, target, allowed) => {
      const token = await currentToken()
      await tab.page.evaluate((href) => {
        const base = document.createElement('base')
        base.href = href
        document.head.append(base)
      }, `${target().url}/`)
      try {
        const result = await fetchWithAuth('/me')

        // The page's own origin is allowed; the request went elsewhere, and so did the decision.
        expect(result).toEqual({ status: 200, wwwAuthenticate: null, tokenRequests: 0 })
        expect(target().requests).toEqual([
          { method: 'GET', path: '/me', authorization: allowed ? `Bearer ${token}` : undefined },
        ])
        expect(target().preflights).toBe(allowed ? 1 : 0)
      } finally {
        await tab.page.evaluate(() => document.querySelector('base')?.remove())
      }
    },
  )

  it('never sends the token to an origin outside apiOrigins', async () => {
    const result = await fetchWithAuth(`${stranger.url}/me`)

    expect(result).toEqual({ status: 200, wwwAuthenticate: null, tokenRequests: 0 })
    expect(stranger.requests).toEqual([{ method: 'GET', path: '/me', authorization: undefined }])
    // No preflight either: without `Authorization` the GET is a simple request.
    expect(stranger.preflights).toBe(0)
    expect(app.server.counters.tokenRequests).toBe(0)
  })
})
