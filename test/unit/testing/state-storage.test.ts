import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  createMockTokenServer,
  type MockStateStorage,
  type MockTokenServer,
  type MockTokenServerOptions,
} from '../../../src/testing/index.js'

const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

/** A Web Storage stand-in that counts its calls. */
function createMemoryStorage() {
  const items = new Map<string, string>()
  const calls = { getItem: 0, setItem: 0 }
  const storage: MockStateStorage = {
    getItem(key) {
      calls.getItem += 1
      return items.get(key) ?? null
    },
    setItem(key, value) {
      calls.setItem += 1
      items.set(key, value)
    },
  }
  return { storage, items, calls }
}

/**
 * Two mocks, as two browser tabs would run them: each with its own issuer and API (so both can be
 * served at once), over the given options.
 */
function serveTwo(options: MockTokenServerOptions): [MockTokenServer, MockTokenServer] {
  const create = (name: string) =>
    createMockTokenServer({
      issuer: `https://auth-${name}.example.com`,
      apiOrigin: `https://api-${name}.example.com`,
      ...options,
    })
  const mocks: [MockTokenServer, MockTokenServer] = [create('a'), create('b')]
  server.use(...mocks[0].handlers, ...mocks[1].handlers)
  return mocks
}

function refresh(mock: MockTokenServer, refreshToken: string): Promise<Response> {
  return fetch(mock.endpoints.token, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: 'spa',
    }),
  })
}

function callApi(mock: MockTokenServer, accessToken: string): Promise<Response> {
  return fetch(`${mock.endpoints.api}/me`, { headers: { Authorization: `Bearer ${accessToken}` } })
}

describe('stateStorage: mocks sharing one token database', () => {
  it('accepts at one mock the tokens another issued, and rotates them for both', async () => {
    const { storage } = createMemoryStorage()
    const [a, b] = serveTwo({ stateStorage: storage })
    const session = a.issueTokens()

    expect((await callApi(b, session.access_token)).status).toBe(200)
    const response = await refresh(b, session.refresh_token ?? '')
    expect(response.status).toBe(200)
    const rotated = (await response.json()) as { access_token: string; refresh_token: string }

    expect(a.introspect(session.refresh_token ?? '')).toMatchObject({ state: 'rotated' })
    expect(a.introspect(rotated.refresh_token)).toMatchObject({ active: true, family: 'family-1' })
    expect((await callApi(a, rotated.access_token)).status).toBe(200)
  })

  it('detects at one mock the reuse of a refresh token another rotated, for both', async () => {
    const { storage } = createMemoryStorage()
    const [a, b] = serveTwo({ stateStorage: storage })
    const session = a.issueTokens()
    expect((await refresh(a, session.refresh_token ?? '')).status).toBe(200)

    const reuse = await refresh(b, session.refresh_token ?? '')
    expect(reuse.status).toBe(400)
    expect(await reuse.json()).toMatchObject({ error: 'invalid_grant' })
    expect(b.counters.reuseDetected).toBe(1)
    expect(a.introspect(session.access_token).state).toBe('revoked')
  })

  it('applies expireAccessTokens and revokeRefreshTokens of one mock at every other', async () => {
    const { storage } = createMemoryStorage()
    const [a, b] = serveTwo({ stateStorage: storage })
    const session = b.issueTokens()

    a.expireAccessTokens()
    expect((await callApi(b, session.access_token)).status).toBe(401)
    a.revokeRefreshTokens()
    const response = await refresh(b, session.refresh_token ?? '')
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ error: 'invalid_grant' })
  })

  it('numbers families across mocks and forgets the shared state on reset', () => {
    const { storage } = createMemoryStorage()
    const [a, b] = serveTwo({ stateStorage: storage })
    const first = a.issueTokens()
    const second = b.issueTokens()
    expect(b.introspect(first.access_token).family).toBe('family-1')
    expect(a.introspect(second.access_token).family).toBe('family-2')

    b.reset()
    expect(a.introspect(first.access_token).state).toBe('unknown')
    expect(a.introspect(a.issueTokens().access_token).family).toBe('family-1')
  })

  it('keeps counters and queued faults per mock', async () => {
    const { storage } = createMemoryStorage()
    const [a, b] = serveTwo({ stateStorage: storage })
    const session = a.issueTokens()
    a.injectFault({ type: 'status', status: 503 })

    expect((await refresh(b, session.refresh_token ?? '')).status).toBe(200)
    expect(a.counters.token).toBe(0)
    expect(b.counters.token).toBe(1)
    expect(b.counters.faults).toBe(0)
  })

  it('stores versioned JSON under the state key, and separates servers by key', () => {
    const { storage, items } = createMemoryStorage()
    const a = createMockTokenServer({ stateStorage: storage })
    const other = createMockTokenServer({ stateStorage: storage, stateKey: 'other' })
    const session = a.issueTokens()

    const stored = JSON.parse(items.get('freshtoken:mock-token-server') ?? 'null')
    expect(stored).toMatchObject({ version: 2, familyCount: 1, families: [{ label: 'family-1' }] })
    expect(stored.accessTokens).toHaveLength(1)
    expect(stored.refreshTokens).toHaveLength(1)
    expect(other.introspect(session.access_token).state).toBe('unknown')
  })

  it('reads before every operation and writes only after operations that change the state', () => {
    const { storage, calls } = createMemoryStorage()
    const mock = createMockTokenServer({ stateStorage: storage })
    const session = mock.issueTokens()
    expect(calls).toEqual({ getItem: 1, setItem: 1 })
    mock.introspect(session.access_token)
    expect(calls).toEqual({ getItem: 2, setItem: 1 })
    mock.expireAccessTokens()
    expect(calls).toEqual({ getItem: 3, setItem: 2 })
  })

  it('starts from an empty database when the stored state is corrupt or foreign', () => {
    const { storage, items } = createMemoryStorage()
    const mock = createMockTokenServer({ stateStorage: storage })
    for (const value of ['{not json', '"text"', '{"version":3}', '{"version":2,"families":{}}']) {
      items.set('freshtoken:mock-token-server', value)
      expect(mock.introspect('rt_anything').state).toBe('unknown')
      expect(mock.introspect(mock.issueTokens().access_token).family).toBe('family-1')
    }
  })

  it('works over the page localStorage', () => {
    localStorage.clear()
    const a = createMockTokenServer({ stateStorage: localStorage })
    const b = createMockTokenServer({ stateStorage: localStorage })
    const session = a.issueTokens()
    expect(b.introspect(session.refresh_token ?? '')).toMatchObject({ active: true })
    localStorage.clear()
  })

  it('keeps the database private to each mock without the option', () => {
    const a = createMockTokenServer()
    const b = createMockTokenServer()
    expect(b.introspect(a.issueTokens().access_token).state).toBe('unknown')
  })

  it('rejects a stateStorage without getItem and setItem, and an empty stateKey, naming them', () => {
    const notStorage = { getItem: () => null } as unknown as MockStateStorage
    expect(() => createMockTokenServer({ stateStorage: notStorage })).toThrow(
      new TypeError('"stateStorage" must have getItem and setItem methods'),
    )
    expect(() => createMockTokenServer({ stateKey: '' })).toThrow(/"stateKey"/)
  })
})
