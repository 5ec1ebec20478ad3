/**
 * `storage: 'local'` or `'session'` where Web Storage is missing (`null` in a WebView with DOM
 * storage turned off, `undefined` outside a browser) or refuses access (a sandboxed frame, where
 * reading the property throws): the client keeps its session in memory and behaves exactly like a
 * `'memory'` client, sibling tabs included.
 */
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import type { TokenClient, TokenClientOptions } from 'freshtoken'
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { MOCK_CLIENT_OPTIONS, useMockEnvironment } from '../mocks/setup.js'
import { tabs } from '../mocks/tabs.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock } = useMockEnvironment()

const { create: createClient } = useClients(MOCK_CLIENT_OPTIONS, {
  fakeTimers: T0,
  teardown: () => vi.unstubAllGlobals(),
})

const advanceUntil = stepUntilSettled(10)

/** Lets every queued message and lock grant run, without moving fake time. */
const deliver = () => nextMacrotask()

/** The ways a page can lack Web Storage. */
const MISSING = [
  ['null (a WebView with DOM storage off)', () => null],
  ['undefined (no browser)', () => undefined],
  [
    'refused (a sandboxed frame)',
    () => {
      throw new DOMException('The document is sandboxed', 'SecurityError')
    },
  ],
] as const

/** Makes `localStorage` and `sessionStorage` read as `read()` does, until the test ends. */
function removeWebStorage(read: () => null | undefined): void {
  for (const name of ['localStorage', 'sessionStorage']) {
    vi.stubGlobal(name, undefined)
    Object.defineProperty(globalThis, name, { configurable: true, get: read })
  }
}

describe.each(MISSING)('with Web Storage %s', (_, read) => {
  it.each(['local', 'session'] as const)(
    "storage '%s' keeps the session in memory: it works, renews and logs out",
    async (storage) => {
      removeWebStorage(read)
      const auth = createClient({ storage })
      const tokens = auth.setTokens(mock.issueTokens())
      expect(await auth.getAccessToken()).toBe(tokens.accessToken)
      const renewed = await auth.refresh()
      expect(auth.tokens).toEqual(renewed)
      await advanceUntil(auth.logout())
      expect(auth.tokens).toBeNull()
      // Nothing was kept anywhere: a new client starts without a session.
      const next = createClient({ storage, crossTab: false })
      expect(next.tokens).toBeNull()
    },
  )

  it("storage 'local' still makes a tab back from the back/forward cache ask its siblings before renewing", async () => {
    removeWebStorage(read)
    const options: Partial<TokenClientOptions> = { storage: 'local' }
    const [a, b] = [createClient(options), createClient(options)] as [TokenClient, TokenClient]
    a.setTokens(mock.issueTokens())
    await advanceUntil(b.getAccessToken())

    // b sits in the back/forward cache and misses a's renewal; there is no shared store in which
    // it could find the rotated refresh token, so only its siblings can tell it.
    tabs.deliver = () => false
    await advanceUntil(a.refresh())
    await deliver()
    tabs.deliver = () => true
    // Messages now take 50 ms: the answer arrives only if b waits for it before renewing.
    tabs.messageDelay = 50

    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    const renewedInB = await advanceUntil(b.refresh())

    expect(mock.counters).toMatchObject({ token: 2, tokenSuccess: 2, reuseDetected: 0 })
    await vi.advanceTimersByTimeAsync(100)
    expect(a.tokens).toEqual(renewedInB)
  })
})
