import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium } from 'playwright-core'

/** Debian's Chromium; `.ci/run` installs it with apt-get when missing. Never a downloaded browser. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Flags for this machine: headless as root, and no background traffic (the network is closed
 * except loopback, and Chromium's own connections would otherwise fail at every start).
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/**
 * Time limit of an end-to-end test, and of its hooks. These tests drive a real browser in real
 * time: several seconds on an idle machine (some keep tabs busy through several token lifetimes),
 * many times that on a loaded one, where starting Chromium or opening a tab alone takes seconds.
 * It only catches a hang: every wait inside a test is for a state, bounded on its own, and no
 * check depends on how long a test takes. Each end-to-end file sets it with `vi.setConfig`.
 */
export const E2E_TIME_LIMIT = { testTimeout: 120_000, hookTimeout: 120_000 }

/** A running Chromium with its own empty profile; `close()` removes both. */
export interface ChromiumSession {
  readonly context: BrowserContext
  close(): Promise<void>
}

/**
 * Starts Debian's Chromium with a fresh profile. Tabs of one context share an origin's Web Locks,
 * BroadcastChannel and storage, as tabs of one browser window do.
 */
export async function launchChromium(): Promise<ChromiumSession> {
  const profile = mkdtempSync(join(tmpdir(), 'freshtoken-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_FLAGS,
    headless: true,
  })
  return {
    context,
    async close() {
      await context.close().catch(() => undefined)
      rmSync(profile, { recursive: true, force: true })
    },
  }
}
