// @vitest-environment node
/**
 * Every storage choice keeps one session across the tabs of a real Chromium, against a server
 * with refresh-token rotation and reuse detection: busy tabs renew on the schedule without a
 * 401, a reloaded tab carries on with the current session, and a tab that closes while it renews
 * leaves its siblings a session that ends cleanly.
 *
 * Each variant runs on a test app of its own (another origin, so another storage and lock
 * namespace), all variants of a test at the same time.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest'
import { type ChromiumSession, E2E_TIME_LIMIT, launchChromium } from './chromium.js'
import { expectHealthySession, expectOnSchedule } from './healthy-session.js'
import {
  openSessionTabs,
  runBusyTabsUntil,
  runBusyWindow,
  scheduledRenewals,
  startTestApp,
  type TestApp,
  type TestTab,
} from './test-app.js'

vi.setConfig(E2E_TIME_LIMIT)

type StorageChoice = 'memory' | 'session' | 'local'

const LIFETIME_SECONDS = 3
const LIFETIME_MS = LIFETIME_SECONDS * 1_000
const LEEWAY_MS = 300
const CALL_INTERVAL_MS = 100
/** Bounds every wait for something another tab (or the schedule) does. */
const POLL = { timeout: 15_000, interval: 20 }

let chromium: ChromiumSession
const apps: TestApp[] = []

/** A test app of its own (origin, server, counters) for one variant. */
async function startApp(accessTokenLifetime = LIFETIME_SECONDS): Promise<TestApp> {
  const app = await startTestApp({ accessTokenLifetime })
  apps.push(app)
  return app
}

beforeAll(async () => {
  chromium = await launchChromium()
})

afterAll(async () => {
  await Promise.all([chromium?.close(), ...apps.map((app) => app.close())])
})

describe('busy tabs with each stored session', () => {
  const TABS = 3
  const LIFETIMES = 3

  /**
   * Opens `TABS` tabs in one session with `storage` and, once they are all open, keeps them busy
   * for `LIFETIMES`.
   */
  async function runSession(storage: StorageChoice) {
    const app = await startApp()
    const tabs = await openSessionTabs(app, chromium.context, TABS, {
      storage,
      refreshLeeway: LEEWAY_MS,
    })
    const busy = await runBusyWindow(tabs, LIFETIMES * LIFETIME_MS, CALL_INTERVAL_MS, [app.server])
    // The schedule goes on after the loops stop, so a renewal may be on its way now: the tabs are
    // compared with the server once every refresh grant it answered has reached its tab (one
    // 'refresh' event each) and every tab holds the same token.
    const settled = async () => {
      const refreshes = await Promise.all(
        tabs.map((tab) => tab.run((hooks) => hooks.events.refresh)),
      )
      const tokens = await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.accessToken())))
      const counters = { ...app.server.counters }
      const renewedInTabs = refreshes.reduce((sum, count) => sum + count, 0)
      return { renewedInTabs, tokens, counters }
    }
    await expect
      .poll(async () => {
        const { renewedInTabs, tokens, counters } = await settled()
        return renewedInTabs === counters.refreshGrants && new Set(tokens).size === 1
      }, POLL)
      .toBe(true)
    return { storage, tabs, ...busy, ...(await settled()) }
  }

  it(`renew on the schedule between ${TABS} busy tabs with 'local' and with 'session' storage`, async () => {
    const durationMs = LIFETIMES * LIFETIME_MS
    const runs = await Promise.all([runSession('local'), runSession('session')])

    for (const { tabs, reports, tokens, counters, renewedInTabs, ...run } of runs) {
      // Renewals while the tabs were busy, against the schedule for as long as they were.
      const schedule = scheduledRenewals(run.windowMs, LIFETIME_MS, LEEWAY_MS)
      const report = JSON.stringify({ ...run, counters, schedule, reports })
      expectHealthySession(reports, counters, tabs, report)
      for (const { statuses } of reports) {
        expect(statuses['200'], report).toBeGreaterThan(durationMs / CALL_INTERVAL_MS / 4)
      }
      expectOnSchedule(run.renewals[0] ?? 0, schedule, report)
      // One tab renewed each time and the others adopted its tokens: they end on one session.
      expect(renewedInTabs, report).toBe(counters.refreshGrants)
      expect(new Set(tokens).size, report).toBe(1)
    }
  })
})

describe('a reloaded tab', () => {
  /**
   * Two busy tabs; once a renewal has reached both, the second reloads. It must pick up the
   * session its sibling holds without a token request, then stay busy through another renewal.
   */
  async function reloadDuringSession(storage: StorageChoice) {
    // Minute-long tokens until the reload has been checked: no scheduled renewal can fall between
    // the renewal the reload follows and the end of the join, however long the reload takes.
    const app = await startApp(60)
    const [kept, reloaded] = (await openSessionTabs(app, chromium.context, 2, {
      storage,
      refreshLeeway: LEEWAY_MS,
    })) as [TestTab, TestTab]
    await kept.run((hooks, interval) => hooks.startLoop(interval), CALL_INTERVAL_MS)
    await reloaded.run((hooks, interval) => hooks.startLoop(interval), CALL_INTERVAL_MS)

    // A renewal reaches both tabs; the next one is most of a minute away, so any token request
    // until the reloaded tab has joined would be one made just for joining.
    const renewal = await kept.run((hooks) => hooks.refresh())
    expect(renewal.token).toEqual(expect.any(String))
    await expect.poll(() => sessionOf([kept, reloaded]), POLL).toBe(renewal.token)
    const beforeReload = { ...app.server.counters }
    const sessionBeforeReload = await kept.run((hooks) => hooks.accessToken())

    await reloaded.reload()
    const joined = await reloaded.run((hooks) => hooks.getAccessToken())
    const afterJoin = {
      sibling: await kept.run((hooks) => hooks.accessToken()),
      tokenResponses: await reloaded.run((hooks) => hooks.responses.token),
      counters: { ...app.server.counters },
    }
    // From here on the server issues short-lived tokens again, starting with the reloaded tab's
    // own renewal: its refresh token is the current one too, so this renewal is no reuse.
    app.setAccessTokenLifetime(LIFETIME_SECONDS)
    const ownRenewal = await reloaded.run((hooks) => hooks.refresh())
    await expect.poll(() => kept.run((hooks) => hooks.accessToken()), POLL).toBe(ownRenewal.token)

    // Both tabs busy until the next scheduled renewal (of the reloaded tab's short-lived token)
    // has reached the server and both tabs hold its tokens.
    const renewals = app.server.counters.refreshGrants
    const reports = await runBusyTabsUntil([kept, reloaded], CALL_INTERVAL_MS, async () => {
      await expect
        .poll(() => app.server.counters.refreshGrants, { ...POLL, timeout: 2 * LIFETIME_MS })
        .toBeGreaterThan(renewals)
      const renewedAgain = async () => {
        const token = await sessionOf([kept, reloaded])
        return token !== ownRenewal.token ? token : undefined
      }
      await expect.poll(renewedAgain, POLL).toEqual(expect.any(String))
    })
    return {
      storage,
      tabs: [kept, reloaded],
      sessionBeforeReload,
      beforeReload,
      joined,
      afterJoin,
      ownRenewal,
      reports,
      counters: { ...app.server.counters },
    }
  }

  it("carries on with the current session with 'memory', 'session' and 'local' storage", async () => {
    const runs = await Promise.all(
      (['memory', 'session', 'local'] as const).map((storage) => reloadDuringSession(storage)),
    )

    for (const run of runs) {
      const { tabs, sessionBeforeReload, beforeReload, joined, afterJoin, ownRenewal } = run
      const { reports, counters } = run
      const report = JSON.stringify({ ...run, tabs: undefined })
      // The reloaded tab has the session its sibling holds, and nobody asked the server for it.
      expect(joined, report).toEqual({ token: sessionBeforeReload })
      expect(afterJoin.sibling, report).toBe(sessionBeforeReload)
      expect(afterJoin.tokenResponses, report).toBe(0)
      expect(afterJoin.counters.tokenRequests, report).toBe(beforeReload.tokenRequests)
      expect(ownRenewal.token, report).toEqual(expect.any(String))
      // And it keeps working through the next scheduled renewal, whichever tab makes it.
      expectHealthySession(reports, counters, tabs, report)
      expect(counters.refreshGrants, report).toBeGreaterThan(beforeReload.refreshGrants + 1)
    }
  })
})

describe('a tab closed while it renews', () => {
  it('leaves its sibling a session that ends cleanly, as the server decided', async () => {
    // Tokens that outlive the test: the only renewals are the ones made here.
    const app = await startApp(60)
    const [sibling, closing] = (await openSessionTabs(app, chromium.context, 2)) as [
      TestTab,
      TestTab,
    ]
    // The server processes the closing tab's refresh at once (it rotates the refresh token) and
    // holds the answer until the end of the test, so the tab is still renewing, and holds the
    // lock, when it closes, and no answer can reach a page that is still going away. Everything
    // below waits on state: the server's counters, the origin's locks.
    // Released when the test ends, pass or fail: to a connection its page closed.
    onTestFinished(app.server.holdNextTokenAnswer())
    // Not awaited: the page goes away before its renewal can settle.
    await closing.run((hooks) => {
      void hooks.refresh()
    })
    await expect
      .poll(() => ({ ...app.server.counters }), POLL)
      .toMatchObject({ refreshGrants: 1, rotations: 1 })
    const whileRenewing = await exclusiveLocks(sibling)
    expect(whileRenewing).toHaveLength(1)
    await closing.close()
    const afterClose = { ...app.server.counters }
    // The closed tab's lock went with it: nothing is left for the sibling to wait for, so it
    // renews at once rather than after the 40 s a lock left behind would hold it up.
    await expect.poll(() => exclusiveLocks(sibling), POLL).toEqual([])

    expect(await sibling.run((hooks) => hooks.callApi())).toBe(200)
    const renewed = await sibling.run((hooks) => hooks.refresh())
    const counters = { ...app.server.counters }
    const report = JSON.stringify({ whileRenewing, afterClose, renewed, counters })

    // The server rotated for a tab that is gone: no tab can know the new refresh token, and
    // presenting the old one is a reuse. The session ends, and the sibling says so cleanly.
    expect(afterClose, report).toMatchObject({ refreshGrants: 1, rotations: 1, invalidGrants: 0 })
    expect(renewed, report).toEqual({ code: 'session_expired' })
    expect(await sibling.run((hooks) => hooks.events), report).toMatchObject({
      expired: 1,
      refresh: 0,
    })
    expect(counters, report).toMatchObject({ rotations: 1, reuseDetections: 1, invalidGrants: 1 })
    expect(await sibling.run((hooks) => hooks.getAccessToken()), report).toEqual({
      code: 'session_expired',
    })
    // The token endpoint's 400 is the one console error, in the sibling that received it.
    expect(sibling.problems, report).toEqual([expect.stringMatching(/status of 400/)])
  })
})

/** The access token every tab of `tabs` holds, or undefined while they differ. */
async function sessionOf(tabs: readonly TestTab[]): Promise<string | null | undefined> {
  const tokens = await Promise.all(tabs.map((tab) => tab.run((hooks) => hooks.accessToken())))
  return tokens.every((token) => token === tokens[0]) ? tokens[0] : undefined
}

/** The exclusive Web Locks (the renewal lock) held or requested in the origin of `tab`. */
function exclusiveLocks(tab: TestTab): Promise<string[]> {
  return tab.page.evaluate(async () => {
    const { held = [], pending = [] } = await navigator.locks.query()
    const exclusive = (locks: LockInfo[], state: string) =>
      locks.filter((lock) => lock.mode === 'exclusive').map((lock) => `${state} ${lock.name}`)
    return [...exclusive(held, 'held'), ...exclusive(pending, 'pending')]
  })
}
