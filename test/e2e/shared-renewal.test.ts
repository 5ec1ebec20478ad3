// @vitest-environment node
/**
 * Several tabs of one browser keep one session in real Chromium against a server with
 * refresh-token rotation and reuse detection: one renewal per token lifetime for all of them, as
 * for a single tab, and no call ever meets a 401.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { type ChromiumSession, E2E_TIME_LIMIT, launchChromium } from './chromium.js'
import { expectHealthySession, expectOnSchedule } from './healthy-session.js'
import {
  openSessionTabs,
  runBusyWindow,
  scheduledRenewals,
  startTestApp,
  type TestApp,
} from './test-app.js'

vi.setConfig(E2E_TIME_LIMIT)

const LIFETIME_SECONDS = 3
const LEEWAY_MS = 300
const TABS = 4
const LIFETIMES = 4
const CALL_INTERVAL_MS = 100

let chromium: ChromiumSession
let shared: TestApp
let alone: TestApp

beforeAll(async () => {
  ;[chromium, shared, alone] = await Promise.all([
    launchChromium(),
    startTestApp({ accessTokenLifetime: LIFETIME_SECONDS }),
    startTestApp({ accessTokenLifetime: LIFETIME_SECONDS }),
  ])
})

afterAll(async () => {
  await Promise.all([chromium?.close(), shared?.close(), alone?.close()])
})

describe('tabs sharing one session', () => {
  it(`renew once per token lifetime between ${TABS} busy tabs, as one tab does, and never meet a 401`, async () => {
    const durationMs = LIFETIMES * LIFETIME_SECONDS * 1_000
    const options = { refreshLeeway: LEEWAY_MS }
    // The single tab runs at the same time on another origin (another server): a session of its
    // own, renewing on the same schedule over the same wall-clock window.
    const [tabs, single] = await Promise.all([
      openSessionTabs(shared, chromium.context, TABS, options),
      openSessionTabs(alone, chromium.context, 1, options),
    ])

    const { reports, windowMs, renewals } = await runBusyWindow(
      [...tabs, ...single],
      durationMs,
      CALL_INTERVAL_MS,
      [shared.server, alone.server],
    )
    const [sharedRenewals = 0, singleRenewals = 0] = renewals
    const counters = { ...shared.server.counters }
    const singleCounters = { ...alone.server.counters }
    const report = JSON.stringify({ windowMs, renewals, counters, singleCounters, reports })

    // Every tab was busy, and every call succeeded without meeting a 401.
    for (const { statuses } of reports) {
      expect(statuses['200'], report).toBeGreaterThan(durationMs / CALL_INTERVAL_MS / 4)
    }
    expectHealthySession(reports.slice(0, TABS), counters, tabs, report)
    expectHealthySession(reports.slice(TABS), singleCounters, single, report)

    // As many renewals for four tabs as for one while they were busy, and as many as the SDK's
    // schedule says for as long as they were.
    const schedule = scheduledRenewals(windowMs, LIFETIME_SECONDS * 1_000, LEEWAY_MS)
    expectOnSchedule(singleRenewals, schedule, report)
    expect(Math.abs(sharedRenewals - singleRenewals), report).toBeLessThanOrEqual(1)
    // One tab renewed each time and the others adopted its tokens.
    const renewedInTabs = reports
      .slice(0, TABS)
      .reduce((sum, { events }) => sum + events.refresh, 0)
    expect(renewedInTabs, report).toBe(counters.refreshGrants)
  })
})
