/**
 * The platform under the tabs' session misbehaving or missing: a lock API that fails outright
 * (an opaque origin), no `BroadcastChannel`, a shared store emptied or failing under the renewal
 * lock, and what a client leaves behind once its hand-off is over. In each the session goes on.
 */
import { describe, expect, it, vi } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { MOCK_CLIENT_OPTIONS, useMockEnvironment } from '../mocks/setup.js'
import { tabs } from '../mocks/tabs.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock } = useMockEnvironment()

const { create: createClient } = useClients(MOCK_CLIENT_OPTIONS, {
  fakeTimers: T0,
  teardown: () => {
    vi.restoreAllMocks()
    vi.unstubAllGlobals()
    localStorage.clear()
  },
})

/** Advances fake time in 10 ms steps until `promise` settles. */
const advanceUntil = stepUntilSettled(10)

describe('a lock API that fails outright', () => {
  it('leaves the tab to renew alone, and the session goes on', async () => {
    vi.spyOn(navigator.locks, 'request').mockRejectedValue(
      new DOMException('The request was denied.', 'SecurityError'),
    )
    const auth = createClient()
    const login = auth.setTokens(mock.issueTokens())

    const renewed = await advanceUntil(auth.refresh())

    expect(renewed.accessToken).not.toBe(login.accessToken)
    expect(auth.tokens).toBe(renewed)
    expect(mock.counters).toMatchObject({ token: 1, tokenSuccess: 1 })
    const response = await advanceUntil(auth.fetch(`${MOCK_CLIENT_OPTIONS.apiOrigins[0]}/me`))
    expect(response.status).toBe(200)
  })
})

describe('no BroadcastChannel', () => {
  it('makes the client work alone', async () => {
    vi.stubGlobal('BroadcastChannel', undefined)
    const auth = createClient()
    const login = auth.setTokens(mock.issueTokens())

    const renewed = await advanceUntil(auth.refresh())

    expect(renewed.accessToken).not.toBe(login.accessToken)
    expect(mock.counters).toMatchObject({ token: 1, tokenSuccess: 1 })
  })
})

describe('the shared store read again under the renewal lock', () => {
  it('emptied by someone else (the user cleared site data): the renewal goes on', async () => {
    const auth = createClient({ storage: 'local' })
    const login = auth.setTokens(mock.issueTokens())
    localStorage.clear()

    const renewed = await advanceUntil(auth.refresh())

    expect(renewed.accessToken).not.toBe(login.accessToken)
    expect(auth.tokens).toBe(renewed)
    expect(mock.counters.tokenSuccess).toBe(1)
  })

  it.each([
    ['throws', false],
    ['rejects', true],
  ])('failing to read (a custom store whose read %s): the renewal goes on', async (_, async) => {
    const kept = new Map<string, string>()
    let reads = 0
    const read = (key: string) => {
      reads++
      if (reads > 1) throw new Error('storage is closing')
      return kept.get(key)
    }
    const auth = createClient({
      storage: {
        get: async ? async (key) => read(key) : read,
        set: (key, value) => {
          kept.set(key, value)
        },
        remove: (key) => {
          kept.delete(key)
        },
      },
    })
    await advanceUntil(auth.getAccessToken().catch(() => undefined))
    const login = auth.setTokens(mock.issueTokens())

    const renewed = await advanceUntil(auth.refresh())

    expect(reads).toBe(2)
    expect(renewed.accessToken).not.toBe(login.accessToken)
    expect(mock.counters.tokenSuccess).toBe(1)
  })
})

describe('a client disposed after a renewal', () => {
  it('leaves no timer behind once its hand-off is over', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    await advanceUntil(auth.refresh())
    auth.dispose()

    await vi.advanceTimersByTimeAsync(5_000)

    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('pageshow', () => {
  it('makes a tab ask its siblings again only when the page comes back from the back/forward cache', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    await advanceUntil(auth.getAccessToken())
    const hellos = () =>
      tabs.posted.filter(([, data]) => (data as { type?: unknown }).type === 'hello').length
    const before = hellos()

    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: false }))
    await advanceUntil(auth.getAccessToken())
    expect(hellos()).toBe(before)

    window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted: true }))
    await advanceUntil(auth.getAccessToken())
    expect(hellos()).toBe(before + 1)
  })
})
