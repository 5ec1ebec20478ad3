// h) Sign-in round trip in real Chromium against oidc-provider on loopback: click on "Sign in" to
// tokens in the app, by redirect (click -> login form -> consent -> /callback -> handleRedirect
// resolved) and with a popup (click -> the same forms in the popup -> loginPopup resolved in the
// opener), the provider's forms filled by Playwright as fast as it can.
//
// It reuses the sign-in end-to-end fixtures (test/e2e/sign-in-app.ts, test/servers/*.ts), which
// are TypeScript, as bench/cross-tab.mjs does: Node 24 strips their types, and the resolve hook
// below maps their `./x.js` imports to the `./x.ts` beside them.
//
// Run by `npm run bench` (part h) or alone: `node bench/sign-in.mjs`.
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { registerHooks } from 'node:module'
import { pathToFileURL } from 'node:url'
import { distIsFresh, root } from './dist-freshness.mjs'
import { percentile } from './measure.mjs'

const SCENARIO = {
  /** Measured logins of each kind, after one warm-up login of each. */
  logins: 10,
  warmup: 1,
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

const summary = (times) =>
  `median ${percentile(times, 0.5)} ms, p90 ${percentile(times, 0.9)} ms ` +
  `(min ${Math.min(...times)}, max ${Math.max(...times)}; n = ${times.length})`

/**
 * One redirect login from the app's home page in `tab`, signed out at the provider first (its
 * cookies cleared, so the login form is shown). Returns ms from the click to handleRedirect's
 * result, and two parts of it that are freshtoken's: from the click to leaving the page, and
 * from the start of the navigation to /callback to the result.
 */
async function redirectLogin(fixtures, app, tab) {
  await tab.page.context().clearCookies()
  await tab.page.goto(`${app.origin}/`)
  await tab.ready()
  await tab.page.click('#login')
  await fixtures.signInOnProvider(tab.page)
  const outcome = await tab.redirectOutcome()
  if (outcome.status !== 'signed-in' || !outcome.tokens?.hasRefreshToken) {
    throw new Error(`redirect login: ${JSON.stringify(outcome.error ?? outcome.status)}`)
  }
  return {
    total: outcome.settledAt - outcome.clickedAt,
    beforeLeaving: outcome.leftAt - outcome.clickedAt,
    atCallback: outcome.settledAt - outcome.arrivedAt,
  }
}

/**
 * One popup login from `tab`, signed out at the provider first; ms from the click to
 * loginPopup's result in the opener.
 */
async function popupLogin(fixtures, tab) {
  const context = tab.page.context()
  await context.clearCookies()
  const [popup] = await Promise.all([
    context.waitForEvent('page', { timeout: 15_000 }),
    tab.page.click('#login-popup'),
  ])
  await fixtures.signInOnProvider(popup)
  await tab.page.waitForFunction(() => window.signInApp.popup().status !== 'pending', undefined, {
    timeout: 15_000,
  })
  const outcome = await tab.run((hooks) => hooks.popup())
  if (outcome.status !== 'signed-in' || !outcome.tokens?.hasRefreshToken) {
    throw new Error(`popup login: ${JSON.stringify(outcome.error ?? outcome.status)}`)
  }
  return outcome.settledAt - outcome.clickedAt
}

/** Runs scenario h) and prints its lines; prints why instead when Chromium is not installed. */
export async function benchSignIn() {
  const { logins, warmup } = SCENARIO
  console.log(
    `\nh) sign-in round trip in Chromium against oidc-provider 9 on loopback (login form + consent page ` +
      `filled by Playwright, signed out at the provider before each): click to tokens in the app, ${logins} logins of each kind ` +
      `after ${warmup} warm-up, alternating`,
  )
  resolveTypeScriptSpecifiers()
  const { CHROMIUM } = await import('../test/e2e/chromium.ts')
  if (!existsSync(CHROMIUM)) {
    console.log(`   skipped: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)
    return
  }
  const fixtures = await import('../test/e2e/sign-in-app.ts')
  const [browser, app] = await Promise.all([
    fixtures.launchSignInBrowser(),
    fixtures.startSignInApp(),
  ])
  try {
    // One browser session for each kind, its tab reused: a login costs what a user waits for,
    // not the opening of a browser session.
    const [redirectTab, popupTab] = await Promise.all(
      [0, 1].map(async () => app.openPage(await app.newContext(browser.browser))),
    )
    const times = { redirect: [], beforeLeaving: [], atCallback: [], popup: [] }
    for (let i = 0; i < warmup + logins; i++) {
      const redirect = await redirectLogin(fixtures, app, redirectTab)
      const popup = await popupLogin(fixtures, popupTab)
      if (i >= warmup) {
        times.redirect.push(redirect.total)
        times.beforeLeaving.push(redirect.beforeLeaving)
        times.atCallback.push(redirect.atCallback)
        times.popup.push(popup)
      }
    }
    const counters = app.provider.counters()
    const exchanges = counters.tokenRequests.authorization_code ?? 0
    const total = 2 * (warmup + logins)
    console.log(`   redirect login: ${summary(times.redirect)}`)
    console.log(
      `     of which click to leaving the page (login(): discovery, PKCE) median ${percentile(times.beforeLeaving, 0.5)} ms, ` +
        `navigation to /callback to tokens (page load, handleRedirect: code exchange, ID token check) median ${percentile(times.atCallback, 0.5)} ms`,
    )
    console.log(`   popup login:    ${summary(times.popup)}`)
    console.log(
      `   code exchanges ${exchanges} for ${total} logins (target exactly one each: ` +
        `${exchanges === total ? 'meets target' : 'MISSES target'}), token errors ${JSON.stringify(counters.tokenErrors)}; ` +
        `requests beyond loopback ${app.outsideRequests.length} tried (the provider's font), ${app.escapedRequests.length} answered`,
    )
  } finally {
    await Promise.all([browser.close(), app.close()])
  }
}

// Run alone: `node bench/sign-in.mjs`.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (!distIsFresh()) {
    console.log('dist/ is missing or stale: running npm run build …')
    execFileSync('npm', ['run', 'build', '--silent'], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'inherit'],
    })
  }
  const started = performance.now()
  await benchSignIn()
  console.log(`\ndone in ${((performance.now() - started) / 1000).toFixed(1)} s`)
}
