// @vitest-environment node
/**
 * One session across the tabs of a real Chromium: a tab opened later joins it without a token
 * request, a logout in one tab ends it in all, and so does `invalid_grant` seen by one tab.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { type ChromiumSession, E2E_TIME_LIMIT, launchChromium } from './chromium.js'
import { openSessionTabs, startTestApp, type TestApp, type TestTab } from './test-app.js'

vi.setConfig(E2E_TIME_LIMIT)

let chromium: ChromiumSession
let app: TestApp
let tabs: TestTab[] = []

/** Bounds every wait for something another tab does. */
const POLL = { timeout: 5_000, interval: 20 }

beforeAll(async () => {
  ;[chromium, app] = await Promise.all([
    launchChromium(),
    startTestApp({ accessTokenLifetime: 60 }),
  ])
})

afterAll(async () => {
  await Promise.all([chromium?.close(), app?.close()])
})

beforeEach(() => {
  app.server.resetCounters()
})

afterEach(async () => {
  await Promise.all(tabs.map((tab) => tab.close()))
  tabs = []
})

describe('a session shared by the tabs of one browser', () => {
  it('is joined by a tab opened later, with the same tokens and no token request', async () => {
    tabs = await openSessionTabs(app, chromium.context, 1)
    const [first] = tabs as [TestTab]
    const accessToken = await first.run((hooks) => hooks.accessToken())
    const before = { ...app.server.counters }

    const later = await app.openTab(chromium.context)
    tabs.push(later)
    expect(await later.run((hooks) => hooks.getAccessToken())).toEqual({ token: accessToken })
    expect(await later.run((hooks) => hooks.accessToken())).toBe(accessToken)
    expect(await later.run((hooks) => hooks.callApi())).toBe(200)
    expect(app.server.counters.tokenRequests).toBe(before.tokenRequests)

    // The later tab renews for both: the first adopts its tokens instead of renewing itself.
    const firstEvents = await first.run((hooks) => ({ ...hooks.events }))
    const renewed = await later.run((hooks) => hooks.refresh())
    expect(renewed.token).toEqual(expect.any(String))
    await expect.poll(() => first.run((hooks) => hooks.accessToken()), POLL).toBe(renewed.token)
    expect(await first.run((hooks) => hooks.callApi())).toBe(200)
    expect(await first.run((hooks) => hooks.events)).toMatchObject({
      tokens: firstEvents.tokens + 1,
      refresh: 0,
    })
    expect(await later.run((hooks) => hooks.events)).toMatchObject({ refresh: 1 })
    expect(app.server.counters).toMatchObject({
      refreshGrants: 1,
      reuseDetections: 0,
      invalidGrants: 0,
      api401s: 0,
    })
    for (const tab of tabs) expect(tab.problems).toEqual([])
  })

  it('ends in every tab when one tab logs out', async () => {
    tabs = await openSessionTabs(app, chromium.context, 3)
    const [, middle] = tabs as [TestTab, TestTab, TestTab]

    await middle.run((hooks) => hooks.logout())

    for (const tab of tabs) {
      await expect.poll(() => tab.run((hooks) => hooks.events.logout), POLL).toBe(1)
      expect(await tab.run((hooks) => hooks.accessToken())).toBeNull()
      expect(await tab.run((hooks) => hooks.getAccessToken())).toEqual({ code: 'no_session' })
      expect(tab.problems).toEqual([])
    }
    // Only the tab that logged out revoked the refresh token (RFC 7009).
    expect(app.server.counters).toMatchObject({ revocationRequests: 1, refreshGrants: 0 })
  })

  it('ends in every tab when one tab meets invalid_grant', async () => {
    tabs = await openSessionTabs(app, chromium.context, 3)
    const [first, , last] = tabs as [TestTab, TestTab, TestTab]
    app.server.revokeAllSessions()

    expect(await last.run((hooks) => hooks.refresh())).toEqual({ code: 'session_expired' })

    for (const tab of tabs) {
      await expect.poll(() => tab.run((hooks) => hooks.events.expired), POLL).toBe(1)
      expect(await tab.run((hooks) => hooks.accessToken())).toBeNull()
      expect(await tab.run((hooks) => hooks.getAccessToken())).toEqual({ code: 'session_expired' })
    }
    // One tab asked the server; the others learnt it from that tab.
    expect(app.server.counters).toMatchObject({ refreshGrants: 1, invalidGrants: 1 })
    // The token endpoint's 400 is the one console error, in the tab that received it.
    expect(last.problems).toEqual([expect.stringMatching(/status of 400/)])
    expect(first.problems).toEqual([])
  })
})
