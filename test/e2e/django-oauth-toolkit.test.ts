// @vitest-environment node
/**
 * Tabs of one session in real Chromium against Django OAuth Toolkit, which deletes the previous
 * access token the moment a refresh commits: while every tab keeps calling the API, no request
 * meets a 401 through several proactive renewals, and the tabs renew once per token lifetime
 * between them (a rotated refresh token sent again would meet invalid_grant and end the session).
 *
 * DOT serves the test page too: its `/token`, `/revoke` and `/api/me` are the page's (one origin).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type DjangoOAuthToolkit,
  startDjangoOAuthToolkit,
} from '../servers/django-oauth-toolkit.js'
import { type ChromiumSession, launchChromium } from './chromium.js'
import { openPageTab, stagePage, type TestTab, type TimelineEntry } from './test-app.js'

/** DOT's ACCESS_TOKEN_EXPIRE_SECONDS. */
const LIFETIME_SECONDS = 4
/** Renew 2 s before expiry: room for the renewal to let calls on their way be answered first. */
const LEEWAY_MS = 2_000
const TABS = 3
/** Proactive renewals to wait for at DOT: one per token lifetime. */
const RENEWALS = 4
/** Each tab calls the API this long after its previous call returned; the tabs overlap. */
const CALL_INTERVAL_MS = 20

let chromium: ChromiumSession | undefined
let dot: DjangoOAuthToolkit | undefined
let pageDir: string | undefined
const tabs: TestTab[] = []

beforeAll(async () => {
  pageDir = mkdtempSync(join(tmpdir(), 'freshtoken-e2e-dot-'))
  await stagePage(pageDir)
  const [browser, server] = await Promise.allSettled([
    launchChromium(),
    startDjangoOAuthToolkit({ accessTokenLifetime: LIFETIME_SECONDS, staticDir: pageDir }),
  ])
  // afterAll runs even when this fails, and stops whichever one started.
  if (browser.status === 'fulfilled') chromium = browser.value
  if (server.status === 'fulfilled') dot = server.value
  for (const result of [browser, server]) if (result.status === 'rejected') throw result.reason
}, 90_000)

afterEach(async () => {
  await Promise.all(tabs.splice(0).map((tab) => tab.close()))
})

afterAll(async () => {
  await Promise.all([chromium?.close(), dot?.close()])
  if (pageDir !== undefined) rmSync(pageDir, { recursive: true, force: true })
})

/** Opens `count` tabs of one session: the first signs in with a DOT login, the others join it. */
async function openSessionTabs(
  server: DjangoOAuthToolkit,
  browser: ChromiumSession,
  count: number,
) {
  const options = { refreshLeeway: LEEWAY_MS }
  const first = await openPageTab(browser.context, server.url, options)
  tabs.push(first)
  await first.run((hooks, tokens) => hooks.setTokens(tokens), await server.login())
  for (let i = 1; i < count; i++) {
    const tab = await openPageTab(browser.context, server.url, options)
    tabs.push(tab)
    // With memory storage, a new tab asks its siblings for the session.
    const joined = await tab.run((hooks) => hooks.getAccessToken())
    expect(joined.token, `tab ${i + 1} did not join: ${joined.code}`).toEqual(expect.any(String))
  }
}

/**
 * Where each API request that met a 401 was sent, relative to the renewal it ran into (the first
 * one, in any tab, not yet answered when it was sent): before that renewal's request (which then
 * overtook it at DOT), while it was in flight (in the same tab or a sibling), or after the last
 * renewal was answered (a token that should have been replaced).
 */
function placeRejections(timelines: readonly (readonly TimelineEntry[])[]): Record<string, number> {
  const renewals = timelines.flatMap((timeline, tab) =>
    timeline.flatMap((entry) => (entry.type === 'token' ? [{ ...entry, tab }] : [])),
  )
  const places: Record<string, number> = {}
  for (const [tab, timeline] of timelines.entries()) {
    for (const entry of timeline) {
      if (entry.type !== 'api401') continue
      const renewal = renewals
        .filter((token) => token.answeredAt >= entry.sentAt)
        .sort((a, b) => a.sentAt - b.sentAt)[0]
      const where = renewal?.tab === tab ? 'in the same tab' : 'in a sibling tab'
      const place =
        renewal === undefined
          ? 'sent after the last renewal was answered'
          : entry.sentAt < renewal.sentAt
            ? `sent before a renewal request ${where}, which overtook it`
            : `sent while a renewal was in flight ${where}`
      places[place] = (places[place] ?? 0) + 1
    }
  }
  return places
}

describe('tabs sharing one session against Django OAuth Toolkit', () => {
  it(`never meet a 401 while ${TABS} busy tabs go through ${RENEWALS} proactive renewals`, async () => {
    const server = dot as DjangoOAuthToolkit
    await openSessionTabs(server, chromium as ChromiumSession, TABS)
    await server.resetStats()

    await Promise.all(
      tabs.map((tab) => tab.run((hooks, interval) => hooks.startLoop(interval), CALL_INTERVAL_MS)),
    )
    let statuses: Record<string, number>[]
    try {
      // One renewal per lifetime; twice that and more is a session that stopped renewing.
      await server.waitForStats(
        (stats) => stats.rotations >= RENEWALS,
        RENEWALS * LIFETIME_SECONDS * 2_000 + 10_000,
      )
    } finally {
      statuses = await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.stopLoop())))
    }
    const pages = await Promise.all(
      tabs.map((tab) =>
        tab.run((hooks) => ({
          responses: hooks.responses,
          refreshEvents: hooks.events.refresh,
          failures: hooks.failures.slice(0, 5),
          timeline: hooks.timeline,
        })),
      ),
    )
    const stats = await server.stats()
    const report = JSON.stringify({
      stats,
      statuses,
      pages: pages.map(({ timeline, ...page }) => page),
      rejectedRequests: placeRejections(pages.map(({ timeline }) => timeline)),
    })

    // The renewals were shared: one at a time, every one committed, none refused.
    expect(stats.rotations, report).toBeGreaterThanOrEqual(RENEWALS)
    expect(stats.refreshGrants, report).toBe(stats.rotations)
    expect(stats.invalidGrants, report).toBe(0)
    // Every tab kept calling, and no request met a 401, at DOT or as the pages saw it.
    expect(stats.api401s, report).toBe(0)
    for (const [i, tabStatuses] of statuses.entries()) {
      expect(Object.keys(tabStatuses), report).toEqual(['200'])
      expect(tabStatuses['200'], report).toBeGreaterThan(RENEWALS * 5)
      expect(pages[i]?.responses.api401s, report).toBe(0)
      expect(pages[i]?.failures, report).toEqual([])
    }
    for (const tab of tabs) expect(tab.problems, report).toEqual([])
  }, 120_000)
})
