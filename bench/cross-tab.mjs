// d) Tabs sharing one session in real Chromium: renewals per token lifetime and requests that met
// a 401, for 4 busy tabs and, at the same time on another origin, for one tab alone.
//
// The scenario reuses the end-to-end fixtures (test/e2e/test-app.ts, test/servers/*.ts), which are
// TypeScript. Node 24 runs them by stripping their types, but they import each other as `./x.js`
// (the TypeScript convention for a file that is `x.ts` in the source tree), and Node resolves
// specifiers literally. The resolve hook below adds exactly that rule: a relative `.js` import
// from a `.ts` file that does not exist resolves to the `.ts` beside it. The fixtures are not
// compiled ahead of time: the bench runs the very files the tests run.
import { existsSync } from 'node:fs'
import { registerHooks } from 'node:module'

const SCENARIO = {
  tabs: 4,
  durationMs: 30_000,
  lifetimeSeconds: 3,
  refreshLeewayMs: 300,
  callIntervalMs: 100,
}

/**
 * Lets Node load the TypeScript fixtures: a relative `.js` import from a `.ts` file that finds no
 * such file resolves to the `.ts` beside it (TypeScript's own rule for these specifiers).
 */
function resolveTypeScriptSpecifiers() {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      try {
        return nextResolve(specifier, context)
      } catch (error) {
        const fromTypeScript = context.parentURL?.endsWith('.ts') ?? false
        const relativeJs = /^\.\.?\/.*\.js$/.test(specifier)
        if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !fromTypeScript || !relativeJs) throw error
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context)
      }
    },
  })
}

const verdict = (ok) => (ok ? 'meets target' : 'MISSES target')

/**
 * Opens `count` tabs of `app` that share the login through localStorage only (no cross-tab
 * coordination): the first signs in, each later one starts from what storage holds. Unlike
 * openSessionTabs, a later tab is not required to end up with a working session: on a busy
 * machine a tab may open after the first tab's token rotated, and its failure is what the
 * comparison shows.
 */
async function openUncoordinatedTabs(app, context, count, options) {
  const first = await app.openTab(context, options)
  await first.run((hooks, tokens) => hooks.setTokens(tokens), await app.server.login())
  const tabs = [first]
  for (let i = 1; i < count; i++) tabs.push(await app.openTab(context, options))
  return tabs
}

/** Renewals, 401s and failures of one group of tabs sharing a session. */
function summarise(reports, counters, lifetimes) {
  const calls = reports.reduce(
    (sum, { statuses }) => sum + Object.values(statuses).reduce((a, b) => a + b, 0),
    0,
  )
  const ok = reports.reduce((sum, { statuses }) => sum + (statuses['200'] ?? 0), 0)
  const pageSeen401s = reports.reduce((sum, { responses }) => sum + responses.api401s, 0)
  return {
    renewals: counters.refreshGrants,
    perLifetime: counters.refreshGrants / lifetimes,
    // The server's count; the pages' own count of raw 401 responses is the same figure seen from
    // the browser (before auth.fetch's retry hides the first answer).
    met401: Math.max(counters.api401s, pageSeen401s),
    calls,
    ok,
    reuseDetections: counters.reuseDetections,
    invalidGrants: counters.invalidGrants,
  }
}

/** Runs scenario d) and prints its lines; prints why instead when Chromium is not installed. */
export async function benchCrossTab() {
  const { tabs, durationMs, lifetimeSeconds, refreshLeewayMs, callIntervalMs } = SCENARIO
  console.log(
    `\nd) ${tabs} tabs of one session in Chromium for ${durationMs / 1_000} s, each calling the API every ${callIntervalMs} ms ` +
      `(${lifetimeSeconds} s access tokens, refreshLeeway ${refreshLeewayMs} ms, @node-oauth/oauth2-server rotating refresh tokens with reuse detection)`,
  )
  resolveTypeScriptSpecifiers()
  const { CHROMIUM, launchChromium } = await import('../test/e2e/chromium.ts')
  if (!existsSync(CHROMIUM)) {
    console.log(`   skipped: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)
    return
  }
  const { openSessionTabs, runBusyTabs, startTestApp } = await import('../test/e2e/test-app.ts')

  const [chromium, shared, alone, uncoordinated] = await Promise.all([
    launchChromium(),
    startTestApp({ accessTokenLifetime: lifetimeSeconds }),
    startTestApp({ accessTokenLifetime: lifetimeSeconds }),
    startTestApp({ accessTokenLifetime: lifetimeSeconds }),
  ])
  try {
    const options = { refreshLeeway: refreshLeewayMs }
    const started = Date.now()
    // For comparison, what freshtoken prevents: the same tabs without cross-tab coordination,
    // sharing the login through localStorage as an app without it would.
    const [sharedTabs, singleTab, uncoordinatedTabs] = await Promise.all([
      openSessionTabs(shared, chromium.context, tabs, options),
      openSessionTabs(alone, chromium.context, 1, options),
      openUncoordinatedTabs(uncoordinated, chromium.context, tabs, {
        ...options,
        crossTab: false,
        storage: 'local',
      }),
    ])
    const reports = await runBusyTabs(
      [...sharedTabs, ...singleTab, ...uncoordinatedTabs],
      started + durationMs,
      callIntervalMs,
    )
    const lifetimes = durationMs / (lifetimeSeconds * 1_000)
    const many = summarise(reports.slice(0, tabs), shared.server.counters, lifetimes)
    const one = summarise(reports.slice(tabs, tabs + 1), alone.server.counters, lifetimes)
    const without = summarise(reports.slice(tabs + 1), uncoordinated.server.counters, lifetimes)
    const problems = [...sharedTabs, ...singleTab].flatMap((tab) => tab.problems)

    const early = (lifetimeSeconds * 1_000) / (lifetimeSeconds * 1_000 - refreshLeewayMs)
    console.log(
      `   ${tabs} tabs:        ${many.renewals} renewals in ${lifetimes} token lifetimes = ${many.perLifetime.toFixed(2)} per lifetime ` +
        `(target 1.0, the physical limit, ${early.toFixed(2)} when renewing ${refreshLeewayMs} ms early; ` +
        `as one tab alone: ${verdict(many.renewals <= one.renewals + 1)})`,
    )
    console.log(
      `   one tab alone: ${one.renewals} renewals in ${lifetimes} token lifetimes = ${one.perLifetime.toFixed(2)} per lifetime ` +
        `(same settings, same ${durationMs / 1_000} s, another origin), ${one.met401} requests met a 401`,
    )
    console.log(
      `   requests that met a 401 (${tabs} tabs): ${many.met401} of ${many.calls} (target 0: ${verdict(many.met401 === 0)}); ` +
        `${many.ok}/${many.calls} answered 200, reuse detections ${many.reuseDetections}, invalid_grant ${many.invalidGrants}`,
    )
    console.log(
      `   for comparison, ${tabs} tabs with crossTab: false (login shared through localStorage): ` +
        `reuse detections ${without.reuseDetections}, invalid_grant ${without.invalidGrants}, ` +
        `${without.ok}/${without.calls} calls answered 200`,
    )
    if (problems.length > 0) console.log(`   page problems: ${problems.slice(0, 3).join('; ')}`)
  } finally {
    await Promise.all([chromium.close(), shared.close(), alone.close(), uncoordinated.close()])
  }
}
