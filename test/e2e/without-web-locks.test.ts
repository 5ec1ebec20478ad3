// @vitest-environment node
/**
 * Tabs of a browser without Web Locks (`navigator.locks` removed before the SDK loads) still keep
 * one session: renewals take a lease over BroadcastChannel instead, so the server never sees a
 * rotated refresh token again.
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
const TABS = 3
const LIFETIMES = 3
const CALL_INTERVAL_MS = 100

let chromium: ChromiumSession
let app: TestApp

beforeAll(async () => {
  ;[chromium, app] = await Promise.all([
    launchChromium(),
    startTestApp({ accessTokenLifetime: LIFETIME_SECONDS }),
  ])
})

afterAll(async () => {
  await Promise.all([chromium?.close(), app?.close()])
})

describe('tabs without Web Locks', () => {
  it(`keep one session between ${TABS} busy tabs with a lease over BroadcastChannel`, async () => {
    const durationMs = LIFETIMES * LIFETIME_SECONDS * 1_000
    const tabs = await openSessionTabs(app, chromium.context, TABS, {
      refreshLeeway: LEEWAY_MS,
      withoutWebLocks: true,
    })
    for (const tab of tabs) {
      expect(await tab.page.evaluate(() => 'locks' in navigator)).toBe(false)
    }

    const busy = await runBusyWindow(tabs, durationMs, CALL_INTERVAL_MS, [app.server])
    const { reports, windowMs, renewals } = busy
    const counters = { ...app.server.counters }
    const report = JSON.stringify({ windowMs, renewals, counters, reports })

    expectHealthySession(reports, counters, tabs, report)
    // Renewals while the tabs were busy, against the schedule for as long as they were.
    const schedule = scheduledRenewals(windowMs, LIFETIME_SECONDS * 1_000, LEEWAY_MS)
    expectOnSchedule(renewals[0] ?? 0, schedule, report)
  })
})
