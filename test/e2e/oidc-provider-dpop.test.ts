// @vitest-environment node
/**
 * freshtoken 0.4 in real Chromium against oidc-provider: DPoP (RFC 9449) with nonces required at
 * the token endpoint and at two APIs, and one access token per API (RFC 8707 resource
 * indicators). The app (test/e2e/dpop-app.ts) signs in by redirect through the provider's own
 * login and consent pages with `dpop: true`, `scope: 'openid offline_access api'` and
 * `apiOrigins` naming both resource servers (test/servers/dpop-resource-server.ts), which verify
 * every proof, its `ath`, nonce and `jti`, and the token's audience and `cnf.jkt`.
 *
 * Every test has a browser context of its own (a fresh IndexedDB, so a fresh key); nothing leaves
 * loopback.
 */
import { createHash, randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { BrowserContext } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { E2E_TIME_LIMIT } from './chromium.js'
import {
  DPOP_APP_SCOPE,
  type DPoPApp,
  type DPoPTab,
  type LoopReport,
  startDPoPApp,
  type WireTokenRequest,
} from './dpop-app.js'
import { launchSignInBrowser, type SignInBrowser, signInOnProvider } from './sign-in-app.js'

vi.setConfig(E2E_TIME_LIMIT)

/** Access-token lifetime (s) of the tests that must see no proactive renewal. */
const LONG_TTL = 300
/** Access-token lifetime (s) of the run of several tabs. */
const SHORT_TTL = 5
/** How long the tabs call the APIs, in real time (ms). */
const RUN = 30_000
/** How many tabs share the session in that run. */
const TAB_COUNT = 4
/** Bounds every wait for something a page or a server does. */
const POLL = { timeout: 15_000, interval: 20 }

let browser: SignInBrowser | undefined
let app: DPoPApp
const contexts: BrowserContext[] = []

beforeAll(async () => {
  const [launched, started] = await Promise.allSettled([
    launchSignInBrowser(),
    startDPoPApp({ accessTokenTtl: LONG_TTL }),
  ])
  // afterAll runs even when this fails, and stops whichever one started.
  if (launched.status === 'fulfilled') browser = launched.value
  if (started.status === 'fulfilled') app = started.value
  for (const result of [launched, started]) if (result.status === 'rejected') throw result.reason
})

afterAll(async () => {
  await Promise.all([browser?.close(), app?.close()])
})

beforeEach(() => {
  app.provider.setAccessTokenTtl(LONG_TTL)
  app.provider.resetCounters()
  for (const api of app.apis) api.resetCounters()
})

afterEach(async () => {
  await Promise.all(contexts.splice(0).map((context) => context.close()))
  expect(app.provider.counters().serverErrors).toEqual([])
  expect(app.escapedRequests).toEqual([])
})

async function newContext(): Promise<BrowserContext> {
  const context = await app.newContext((browser as SignInBrowser).browser)
  contexts.push(context)
  return context
}

/**
 * Signs in by redirect in a new tab of `context` (the provider's login and consent forms filled),
 * and returns the tab, once handleRedirect succeeded at `/callback`, with the authorization
 * request the browser sent.
 */
async function signIn(context: BrowserContext, login: string) {
  const tab = await app.openPage(context)
  const before = app.authorizationRequests.length
  await tab.page.click('#login')
  expect(await signInOnProvider(tab.page, { login })).toEqual(['login', 'consent'])
  await tab.page.waitForURL((url) => url.href.startsWith(app.callbackUrl), {
    timeout: POLL.timeout,
  })
  await tab.ready()
  await tab.page.waitForFunction(() => window.dpopApp.redirect.status !== 'pending', undefined, {
    timeout: POLL.timeout,
  })
  const redirect = await tab.run((hooks) => ({ ...hooks.redirect }))
  expect(redirect).toMatchObject({ status: 'signed-in' })
  const requests = app.authorizationRequests.slice(before)
  expect(requests).toHaveLength(1)
  return { tab, redirect, authorizationRequest: requests[0] as URL }
}

/** Console errors and uncaught exceptions of the app's own pages (the provider's excluded). */
const appProblems = (tab: DPoPTab) =>
  tab.problems.filter((problem) => problem.startsWith(app.origin))

/** The app's console errors other than the browser's "failed to load" for a 400 or 401. */
function unexpectedProblems(tab: DPoPTab): string[] {
  return appProblems(tab).filter((problem) => !/status of 40[01]\b/.test(problem))
}

/** The browser's "failed to load" console errors in the app (one per 400 or 401 received). */
function failedLoads(tab: DPoPTab): number {
  return appProblems(tab).filter((problem) => /status of 40[01]\b/.test(problem)).length
}

// --- A thief in Node: the copied tokens, without the page's key ------------------------------

const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url')

/** A key that is not the page's, and proofs signed with it (RFC 9449 §4.2). */
async function foreignKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  return {
    thumbprint: await calculateJwkThumbprint(jwk),
    proof: (claims: { htm: string; htu: string; accessToken?: string; nonce?: string }) =>
      new SignJWT({
        jti: randomUUID(),
        htm: claims.htm,
        htu: claims.htu,
        ...(claims.accessToken === undefined ? {} : { ath: sha256(claims.accessToken) }),
        ...(claims.nonce === undefined ? {} : { nonce: claims.nonce }),
      })
        .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk })
        .setIssuedAt()
        .sign(privateKey),
  }
}

/** The `error` of a `WWW-Authenticate: DPoP` challenge. */
function challengeError(response: Response): string | undefined {
  return /error="([^"]*)"/.exec(response.headers.get('www-authenticate') ?? '')?.[1]
}

/** A refresh-token grant from Node, as a thief holding the refresh token would send it. */
async function stolenRefresh(refreshToken: string, dpop?: string) {
  const response = await fetch(app.provider.tokenEndpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(dpop === undefined ? {} : { dpop }),
    },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: app.provider.clientId,
    }),
  })
  const body = (await response.json()) as { error?: string }
  return { status: response.status, error: body.error, nonce: response.headers.get('dpop-nonce') }
}

// --- Reading the records -------------------------------------------------------------------

/** Successful refresh grants by resource (`session` for the session's own token). */
function renewalsByResource<R extends WireTokenRequest>(requests: readonly R[]) {
  const byResource: Record<string, R[]> = {}
  for (const request of requests) {
    if (request.grantType !== 'refresh_token' || request.status !== 200) continue
    const resource = request.resource ?? 'session'
    byResource[resource] ??= []
    byResource[resource].push(request)
  }
  for (const list of Object.values(byResource)) list.sort((a, b) => a.startedAt - b.startedAt)
  return byResource
}

/** Pairs of token requests (any tab) that were in flight at the same time. */
function overlapping(requests: readonly WireTokenRequest[]) {
  const sorted = [...requests].sort((a, b) => a.startedAt - b.startedAt)
  return sorted.slice(1).flatMap((request, i) => {
    const before = sorted[i] as WireTokenRequest
    return request.startedAt < before.endedAt ? [[before, request]] : []
  })
}

describe('DPoP and a token per API, signing in at oidc-provider', () => {
  it('signs in by redirect with dpop_jkt: DPoP tokens bound to that key, one nonce retry at the token endpoint and at each API, no call failed', async () => {
    const [rs1, rs2] = app.apis
    const context = await newContext()
    const { tab, redirect, authorizationRequest } = await signIn(context, 'dpop-user')

    // The authorization request named the key (RFC 9449 §10) and both APIs (RFC 8707 §2.1).
    const jkt = authorizationRequest.searchParams.get('dpop_jkt') ?? ''
    expect(jkt).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(authorizationRequest.searchParams.getAll('resource')).toEqual([
      rs1.audience,
      rs2.audience,
    ])
    expect(authorizationRequest.searchParams.get('scope')).toBe(DPOP_APP_SCOPE)
    expect(redirect.tokens).toMatchObject({ tokenType: 'DPoP', refreshToken: expect.any(String) })
    expect(await tab.run((hooks) => hooks.session()?.tokenType)).toBe('DPoP')

    // The code exchange: a proof without a nonce, answered use_dpop_nonce with one, sent again
    // once with it.
    const exchange = await tab.run((hooks) => hooks.wire.token.map((request) => ({ ...request })))
    expect(exchange).toMatchObject([
      {
        grantType: 'authorization_code',
        proof: true,
        proofNonce: false,
        status: 400,
        error: 'use_dpop_nonce',
        nonceAnswered: true,
      },
      // RFC 8707 §2.2: every API has a resource of its own, so the code buys the first one's token.
      {
        grantType: 'authorization_code',
        proof: true,
        proofNonce: true,
        status: 200,
        resource: rs1.audience,
      },
    ])
    expect(exchange[1]?.tokenType).toBe('DPoP')
    expect(app.provider.counters()).toMatchObject({
      authorizationRequests: 1,
      authorizationCodes: 1,
      tokenRequests: { authorization_code: 2 },
      tokenErrors: { use_dpop_nonce: 1 },
    })

    // Each API: its token comes from the code exchange (the first) or the refresh token with its
    // `resource`; its first call is challenged for a nonce and sent again once with it.
    for (const api of app.apis) {
      const me = await tab.run((hooks, origin) => hooks.call({ origin }), api.url)
      expect(me).toEqual({
        status: 200,
        body: { sub: 'dpop-user', aud: api.audience, scope: 'api', jkt },
      })
      expect(api.counters()).toMatchObject({
        requests: 2,
        accepted: 1,
        nonceChallenges: 1,
        rejected: { nonce: 1 },
        schemes: { DPoP: 1, Bearer: 0 },
      })
    }
    const { wire, failures, events } = await tab.run((hooks) => ({
      wire: hooks.wire,
      failures: hooks.failures,
      events: hooks.events,
    }))
    for (const api of app.apis) {
      expect(wire.api.filter((request) => request.origin === api.url)).toEqual([
        {
          origin: api.url,
          method: 'GET',
          path: '/me',
          scheme: 'DPoP',
          proof: true,
          proofNonce: false,
          status: 401,
          challenge: 'use_dpop_nonce',
        },
        {
          origin: api.url,
          method: 'GET',
          path: '/me',
          scheme: 'DPoP',
          proof: true,
          proofNonce: true,
          status: 200,
          challenge: null,
        },
      ])
    }
    // The provider's nonce, learnt at the code exchange, went with the second resource's refresh.
    expect(wire.token.slice(2)).toMatchObject([
      { grantType: 'refresh_token', resource: rs2.audience, proofNonce: true, status: 200 },
    ])
    expect(wire.token.slice(2).map((request) => request.tokenType)).toEqual(['DPoP'])
    // One key signed every proof, and it is the key of dpop_jkt.
    const keys = Object.keys(wire.proofKeys)
    expect(keys).toHaveLength(1)
    expect(await calculateJwkThumbprint(JSON.parse(keys[0] as string))).toBe(jkt)
    expect(app.provider.counters()).toMatchObject({
      tokenRequests: { authorization_code: 2, refresh_token: 1 },
      tokenErrors: { use_dpop_nonce: 1 },
      refreshTokenReuses: 0,
      grantsRevoked: {},
    })
    expect(failures).toEqual([])
    expect(events).toMatchObject({ error: 0, expired: 0 })
    // The browser logs each 400 and 401 it received: the three nonce challenges, nothing else.
    expect(unexpectedProblems(tab)).toEqual([])
    expect(failedLoads(tab)).toBe(3)
  })

  it('calls each API with its own audience, posts a body, rotates the bound refresh token, and keeps a non-extractable key in IndexedDB', async () => {
    const [rs1, rs2] = app.apis
    const context = await newContext()
    const { tab, authorizationRequest } = await signIn(context, 'api-user')
    const jkt = authorizationRequest.searchParams.get('dpop_jkt')

    const me1 = await tab.run((hooks, origin) => hooks.call({ origin }), rs1.url)
    const me2 = await tab.run((hooks, origin) => hooks.call({ origin }), rs2.url)
    expect(me1).toEqual({
      status: 200,
      body: { sub: 'api-user', aud: rs1.audience, scope: 'api', jkt },
    })
    expect(me2).toEqual({
      status: 200,
      body: { sub: 'api-user', aud: rs2.audience, scope: 'api', jkt },
    })
    const tokens = await tab.run(
      async (hooks, resources) => {
        const [one, two] = resources
        return [
          (await hooks.getAccessToken(null)).token,
          (await hooks.getAccessToken(one as string)).token,
          (await hooks.getAccessToken(two as string)).token,
        ]
      },
      [rs1.audience, rs2.audience],
    )
    // The code bought the first API's token, which is also the session's own (RFC 8707 §2.2).
    expect(tokens[0]).toBe(tokens[1])
    expect(new Set(tokens).size).toBe(2)

    for (const api of app.apis) {
      const echo = await tab.run(
        (hooks, origin) => hooks.call({ origin, path: '/echo', body: 'hello DPoP' }),
        api.url,
      )
      expect(echo).toEqual({
        status: 200,
        body: { sub: 'api-user', contentType: 'text/plain', body: 'hello DPoP' },
      })
    }

    // A bound refresh (the session's own token): it rotates the refresh token.
    const before = await tab.run((hooks) => hooks.session())
    const refreshed = await tab.run((hooks) => hooks.refresh())
    expect(refreshed).toMatchObject({ tokenType: 'DPoP', refreshToken: expect.any(String) })
    const after = refreshed as { refreshToken: string; accessToken: string }
    expect(after.refreshToken).not.toBe(before?.refreshToken)
    expect(after.accessToken).not.toBe(before?.accessToken)
    const wire = await tab.run((hooks) => hooks.wire.token.map((request) => ({ ...request })))
    expect(wire.at(-1)).toMatchObject({
      grantType: 'refresh_token',
      resource: null,
      refreshToken: before?.refreshToken,
      proof: true,
      status: 200,
      tokenType: 'DPoP',
    })
    // Every successful refresh presented the refresh token the one before it handed out: never
    // one twice.
    const presented = wire
      .filter((request) => request.grantType === 'refresh_token' && request.status === 200)
      .map((request) => request.refreshToken)
    expect(presented).toHaveLength(2)
    expect(new Set(presented).size).toBe(2)
    // The APIs' tokens outlive the session's renewal, on the same key.
    for (const api of app.apis) {
      expect(await tab.run((hooks, origin) => hooks.call({ origin }), api.url)).toMatchObject({
        status: 200,
        body: { aud: api.audience, jkt },
      })
    }
    expect(app.provider.counters()).toMatchObject({
      tokenRequests: { refresh_token: 2 },
      refreshTokenReuses: 0,
      grantsRevoked: {},
    })

    // The key: in IndexedDB, a CryptoKey that can sign and can never be read.
    const stored = await tab.run((hooks) => hooks.storedKeys())
    expect(stored.map((key) => key.jkt)).toContain(jkt)
    for (const key of stored) {
      expect(key).toMatchObject({
        isCryptoKey: true,
        type: 'private',
        extractable: false,
        algorithm: { name: 'ECDSA', namedCurve: 'P-256' },
        usages: ['sign'],
        exportError: 'InvalidAccessError',
      })
      expect(await calculateJwkThumbprint(key.publicJwk)).toBe(key.jkt)
    }
    expect(await tab.run((hooks) => hooks.failures)).toEqual([])
    expect(unexpectedProblems(tab)).toEqual([])
  })

  it('refuses a copied access token as Bearer or with another key, and a copied refresh token without the key, without revoking the grant', async () => {
    const [rs1, rs2] = app.apis
    const context = await newContext()
    const { tab } = await signIn(context, 'victim')
    expect((await tab.run((hooks, origin) => hooks.call({ origin }), rs1.url)).status).toBe(200)
    const copied = await tab.run(
      async (hooks, resource) => ({
        accessToken: (await hooks.getAccessToken(resource)).token as string,
        refreshToken: hooks.session()?.refreshToken as string,
      }),
      rs1.audience,
    )
    for (const api of app.apis) api.resetCounters()
    app.provider.resetCounters()
    const thief = await foreignKey()
    const me = `${rs1.url}/me`

    // The access token, as Bearer: refused, the binding asks for DPoP.
    const bearer = await fetch(me, { headers: { authorization: `Bearer ${copied.accessToken}` } })
    expect(bearer.status).toBe(401)
    expect(challengeError(bearer)).toBe('invalid_token')
    // As DPoP with a proof of another key (right htm, htu and ath): refused.
    const foreign = await fetch(me, {
      headers: {
        authorization: `DPoP ${copied.accessToken}`,
        dpop: await thief.proof({ htm: 'GET', htu: me, accessToken: copied.accessToken }),
      },
    })
    expect(foreign.status).toBe(401)
    expect(challengeError(foreign)).toBe('invalid_token')
    expect(rs1.counters()).toMatchObject({ accepted: 0, rejected: { binding: 2 } })
    // At the other API, the audience is wrong before anything else.
    const elsewhere = await fetch(`${rs2.url}/me`, {
      headers: { authorization: `Bearer ${copied.accessToken}` },
    })
    expect(elsewhere.status).toBe(401)
    expect(rs2.counters()).toMatchObject({ accepted: 0, rejected: { audience: 1 } })

    // The refresh token without a proof, then with another key's (after the nonce challenge
    // every client gets): invalid_grant, and nothing consumed or revoked.
    expect(await stolenRefresh(copied.refreshToken)).toMatchObject({
      status: 400,
      error: 'invalid_grant',
    })
    const tokenEndpoint = app.provider.tokenEndpoint
    const challenge = await stolenRefresh(
      copied.refreshToken,
      await thief.proof({ htm: 'POST', htu: tokenEndpoint }),
    )
    expect(challenge).toMatchObject({ status: 400, error: 'use_dpop_nonce' })
    const withNonce = await stolenRefresh(
      copied.refreshToken,
      await thief.proof({ htm: 'POST', htu: tokenEndpoint, nonce: challenge.nonce as string }),
    )
    expect(withNonce).toMatchObject({ status: 400, error: 'invalid_grant' })
    const refused = app.provider.counters()
    expect(refused).toMatchObject({
      tokenRequests: { refresh_token: 3 },
      tokenErrors: { invalid_grant: 2, use_dpop_nonce: 1 },
      refreshTokenReuses: 0,
      grantsRevoked: {},
    })
    console.info('refused stolen refresh tokens:', refused.tokenErrorDetails)

    // The app keeps working: its refresh presents that same refresh token (never consumed) and
    // rotates it; both APIs answer.
    const refreshed = await tab.run((hooks) => hooks.refresh())
    expect(refreshed).toMatchObject({ tokenType: 'DPoP' })
    const last = await tab.run((hooks) => ({ ...hooks.wire.token.at(-1) }))
    expect(last).toMatchObject({
      grantType: 'refresh_token',
      refreshToken: copied.refreshToken,
      status: 200,
    })
    for (const api of app.apis) {
      expect((await tab.run((hooks, origin) => hooks.call({ origin }), api.url)).status).toBe(200)
    }
    expect(app.provider.counters()).toMatchObject({ refreshTokenReuses: 0, grantsRevoked: {} })
    expect(await tab.run((hooks) => hooks.events)).toMatchObject({ expired: 0, error: 0 })
    expect(await tab.run((hooks) => hooks.failures)).toEqual([])
    expect(unexpectedProblems(tab)).toEqual([])
  })

  it(`shares one session and one key between ${TAB_COUNT} tabs calling both APIs for ${RUN / 1_000} s with ${SHORT_TTL} s tokens: no failed call, no reuse, one token request at a time`, async () => {
    app.provider.setAccessTokenTtl(SHORT_TTL)
    const context = await newContext()
    const { tab: first, authorizationRequest } = await signIn(context, 'busy-user')
    const jkt = authorizationRequest.searchParams.get('dpop_jkt')
    const tabs = [first]
    // Each later tab joins the session by asking its siblings (memory storage): no login.
    while (tabs.length < TAB_COUNT) {
      const tab = await app.openPage(context)
      await expect.poll(() => tab.run((hooks) => hooks.session()?.tokenType), POLL).toBe('DPoP')
      tabs.push(tab)
    }
    expect(app.provider.counters().authorizationRequests).toBe(1)
    app.provider.resetCounters()
    for (const api of app.apis) api.resetCounters()
    await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.resetRecords())))

    const startedAt = Date.now()
    await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.startLoop(50))))
    // The one sleep: the run itself is a span of real time, through several token lifetimes.
    await new Promise((resolve) => setTimeout(resolve, RUN))
    const reports = (await Promise.all(
      tabs.map((tab) => tab.run((hooks) => hooks.stopLoop())),
    )) as LoopReport[]
    const duration = Date.now() - startedAt
    // The grant is still good at the end.
    expect(await first.run((hooks) => hooks.refresh())).toMatchObject({ tokenType: 'DPoP' })
    // The tabs' timers would go on renewing: stopped, the records and the provider's counts
    // settle (a renewal in flight is recorded once its answer arrives).
    await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.dispose())))
    const readRecords = () =>
      Promise.all(
        tabs.map((tab) =>
          tab.run((hooks) => ({
            wire: hooks.wire,
            failures: hooks.failures,
            events: hooks.events,
          })),
        ),
      )
    const settled = async () => {
      const answered = app.provider.counters().tokenRequests.refresh_token ?? 0
      const records = await readRecords()
      return records.reduce((sum, record) => sum + record.wire.token.length, 0) === answered
    }
    await expect.poll(settled, POLL).toBe(true)
    const records = await readRecords()
    const provider = app.provider.counters()
    const apis = app.apis.map((api) => api.counters())

    // No call failed, in any tab.
    for (const [i, report] of reports.entries()) {
      expect(report.rounds).toBeGreaterThan(0)
      for (const api of app.apis)
        expect(Object.keys(report.statuses[api.url] ?? {})).toEqual(['200'])
      expect(report.badEchoes).toBe(0)
      expect(records[i]?.failures).toEqual([])
      expect(records[i]?.events).toMatchObject({ error: 0, expired: 0, logout: 0 })
    }
    // Every tab signed with the key of dpop_jkt: every /me saw it, every proof carried it.
    expect(Object.keys(Object.assign({}, ...reports.map((report) => report.jkts)))).toEqual([jkt])
    const proofKeys = [...new Set(records.flatMap((record) => Object.keys(record.wire.proofKeys)))]
    expect(proofKeys).toHaveLength(1)
    expect(await calculateJwkThumbprint(JSON.parse(proofKeys[0] as string))).toBe(jkt)

    // The APIs refused nothing but each tab's first proof to each (no nonce yet).
    const calls = app.apis.map((api) =>
      reports.reduce((sum, report) => sum + (report.statuses[api.url]?.['200'] ?? 0), 0),
    )
    for (const [i, counters] of apis.entries()) {
      expect(counters).toMatchObject({
        accepted: calls[i],
        requests: (calls[i] as number) + TAB_COUNT,
        nonceChallenges: TAB_COUNT,
        rejected: { nonce: TAB_COUNT },
        schemes: { DPoP: calls[i], Bearer: 0 },
      })
    }

    // Renewals: no reuse, the grant alive, and one token request in flight at a time across the
    // tabs (each rotates the one refresh token).
    expect(provider).toMatchObject({ refreshTokenReuses: 0, grantsRevoked: {} })
    expect(Object.keys(provider.tokenErrors).filter((error) => error !== 'use_dpop_nonce')).toEqual(
      [],
    )
    const tokenRequests = records.flatMap((record, tab) =>
      record.wire.token.map((request) => ({ ...request, tab })),
    )
    expect(
      tokenRequests.filter(
        (request) => request.status !== 200 && request.error !== 'use_dpop_nonce',
      ),
    ).toEqual([])
    expect(tokenRequests.length).toBe(provider.tokenRequests.refresh_token)
    expect(overlapping(tokenRequests)).toEqual([])
    const presented = tokenRequests
      .filter((request) => request.status === 200)
      .map((request) => request.refreshToken)
    expect(new Set(presented).size).toBe(presented.length)
    for (const tab of tabs) expect(unexpectedProblems(tab)).toEqual([])

    // Each API's token was renewed through the run, never twice for one expiry: successive
    // renewals of one resource are about half a lifetime apart (the leeway), not a moment. The
    // closest pair of each resource, by whom and how far apart:
    const renewals = renewalsByResource(tokenRequests)
    const closest = app.apis.map((api) => {
      const list = renewals[api.audience] ?? []
      const pairs = list.slice(1).map((later, i) => {
        const earlier = list[i] as (typeof list)[number]
        return { gap: later.startedAt - earlier.startedAt, tabs: [earlier.tab, later.tab] }
      })
      return pairs.sort((a, b) => a.gap - b.gap)[0]
    })
    console.info(
      'DPoP run:',
      JSON.stringify({
        durationMs: duration,
        tabs: TAB_COUNT,
        rounds: reports.map((report) => report.rounds),
        callsPerApi: calls,
        tokenRequests: provider.tokenRequests,
        tokenErrors: provider.tokenErrors,
        renewals: Object.fromEntries(
          Object.entries(renewals).map(([resource, list]) => [resource, list.length]),
        ),
        renewalsByTab: records.map(
          (record) => record.wire.token.filter((request) => request.status === 200).length,
        ),
        closestRenewals: closest,
        apiNonceChallenges: apis.map((counters) => counters.nonceChallenges),
      }),
    )
    for (const [i, api] of app.apis.entries()) {
      expect(renewals[api.audience]?.length ?? 0).toBeGreaterThanOrEqual(RUN / (SHORT_TTL * 1_000))
      expect(
        closest[i]?.gap,
        `two renewals of ${api.audience}, by tabs ${closest[i]?.tabs}, ${closest[i]?.gap} ms apart`,
      ).toBeGreaterThan((SHORT_TTL * 1_000) / 5)
    }
  })
})
