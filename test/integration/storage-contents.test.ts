/**
 * What Web Storage and a custom store actually hold through a session's life: after setTokens, a
 * renewal, logout() and a session the server ended; which store each `storage` choice writes (never
 * the other one); and which stored entries a new client restores or discards.
 */
import type { TokenClient, TokenSet, TokenStorage } from 'freshtoken'
import { describe, expect, it } from 'vitest'
import { useClients } from '../mocks/harness.js'
import { CLIENT_ID, MOCK_CLIENT_OPTIONS, useMockEnvironment } from '../mocks/setup.js'
import { stepUntilSettled, T0 } from '../mocks/time.js'

const { mock } = useMockEnvironment({ accessTokenLifetime: 60_000 })

const { create: createClient } = useClients(MOCK_CLIENT_OPTIONS, {
  fakeTimers: T0,
  teardown: () => {
    localStorage.clear()
    sessionStorage.clear()
  },
})

const advanceUntil = stepUntilSettled(10)

const KEY = `freshtoken:${CLIENT_ID}`
const WEB_STORAGES = { local: () => localStorage, session: () => sessionStorage } as const
type WebStorageKind = keyof typeof WEB_STORAGES
const other = (kind: WebStorageKind): WebStorageKind => (kind === 'local' ? 'session' : 'local')

/** Every key and value a Web Storage holds. */
function contents(storage: Storage): Record<string, string> {
  return Object.fromEntries(
    Array.from({ length: storage.length }, (_, i) => {
      const key = storage.key(i) as string
      return [key, storage.getItem(key) as string]
    }),
  )
}

/** The stored entry for `tokens`, in freshtoken's format (version 1). */
function entryFor(tokens: TokenSet, lifetime: number) {
  return { v: 1, tokens, lifetime, revision: expect.any(Number) }
}

/** A custom store over a Map, recording what it was asked. */
function mapStorage(initial: Record<string, unknown> = {}) {
  const data = new Map<string, unknown>(Object.entries(initial))
  const storage: TokenStorage = {
    get: (key) => data.get(key) as string | undefined,
    set: (key, value) => void data.set(key, value),
    remove: (key) => void data.delete(key),
  }
  return { data, storage }
}

describe.each(['local', 'session'] as const)("with storage '%s'", (kind) => {
  const store = WEB_STORAGES[kind]
  const untouched = WEB_STORAGES[other(kind)]

  it('holds exactly the session after setTokens, and the other Web Storage holds nothing', () => {
    const auth = createClient({ storage: kind })
    const tokens = auth.setTokens(mock.issueTokens())

    expect(Object.keys(contents(store()))).toEqual([KEY])
    expect(JSON.parse(store().getItem(KEY) as string)).toEqual(entryFor(tokens, 60_000))
    expect(contents(untouched())).toEqual({})
  })

  it('holds the renewed tokens after a renewal, and no longer the rotated refresh token', async () => {
    const auth = createClient({ storage: kind })
    const first = auth.setTokens(mock.issueTokens())

    const renewed = await auth.refresh()

    const raw = store().getItem(KEY) as string
    expect(JSON.parse(raw)).toEqual(entryFor(renewed, 60_000))
    expect(raw).not.toContain(first.refreshToken)
    expect(contents(untouched())).toEqual({})
  })

  it('holds nothing after logout()', async () => {
    const auth = createClient({ storage: kind })
    auth.setTokens(mock.issueTokens())

    await advanceUntil(auth.logout())

    expect(contents(store())).toEqual({})
    expect(contents(untouched())).toEqual({})
  })

  it('holds nothing once the server ended the session (invalid_grant)', async () => {
    const auth = createClient({ storage: kind })
    auth.setTokens(mock.issueTokens())
    mock.revokeRefreshTokens()

    await expect(auth.refresh()).rejects.toMatchObject({ code: 'session_expired' })

    expect(contents(store())).toEqual({})
  })

  it("leaves another client id's entry alone through login and logout", async () => {
    store().setItem('freshtoken:other-app', 'kept as it is')
    const auth = createClient({ storage: kind })
    auth.setTokens(mock.issueTokens())
    await advanceUntil(auth.logout())

    expect(contents(store())).toEqual({ 'freshtoken:other-app': 'kept as it is' })
  })

  it('is where a new client restores the session from, at once', () => {
    const first = createClient({ storage: kind }).setTokens(mock.issueTokens())
    // A client on the other Web Storage finds nothing: the two are not interchangeable.
    expect(createClient({ storage: other(kind), crossTab: false }).tokens).toBeNull()
    expect(createClient({ storage: kind, crossTab: false }).tokens).toEqual(first)
  })
})

describe("with storage 'memory' (the default)", () => {
  it('writes neither Web Storage through login, renewal and logout', async () => {
    const auth = createClient()
    auth.setTokens(mock.issueTokens())
    await auth.refresh()
    await advanceUntil(auth.logout())

    expect(contents(localStorage)).toEqual({})
    expect(contents(sessionStorage)).toEqual({})
  })
})

describe('a custom store', () => {
  it('receives the entry under freshtoken:<clientId>, the renewed one, and a removal on logout', async () => {
    const { data, storage } = mapStorage()
    const auth = createClient({ storage })
    const tokens = auth.setTokens(mock.issueTokens())
    expect([...data.keys()]).toEqual([KEY])
    expect(JSON.parse(data.get(KEY) as string)).toEqual(entryFor(tokens, 60_000))

    const renewed = await auth.refresh()
    expect(JSON.parse(data.get(KEY) as string)).toEqual(entryFor(renewed, 60_000))

    await advanceUntil(auth.logout())
    expect(data.size).toBe(0)
    expect(contents(localStorage)).toEqual({})
  })
})

describe('what a new client restores', () => {
  const valid = () => {
    const { data, storage } = mapStorage()
    const tokens = createClient({ storage, crossTab: false }).setTokens(mock.issueTokens())
    return { entry: JSON.parse(data.get(KEY) as string), tokens }
  }

  /** A client on a store holding `raw`, alone (no sibling to hand it a session). */
  function startOn(raw: unknown): TokenClient {
    return createClient({ storage: mapStorage({ [KEY]: raw }).storage, crossTab: false })
  }

  it('restores an entry freshtoken wrote, with its tokens as they were', () => {
    const { entry, tokens } = valid()
    expect(startOn(JSON.stringify(entry)).tokens).toEqual(tokens)
  })

  it.each([
    ['a lifetime that is not a number', { lifetime: '60000' }],
    ['a revision that is not a number', { revision: '7' }],
    ['another format version', { v: 2 }],
  ])('discards an entry with %s', (_, change) => {
    const { entry } = valid()
    expect(startOn(JSON.stringify({ ...entry, ...change })).tokens).toBeNull()
  })

  it.each([
    ['an expiry that is not a number', { expiresAt: String(T0 + 60_000) }],
    ['a scope that is not a string', { scope: ['openid'] }],
    ['an ID token that is not a string', { idToken: 42 }],
    ['an empty refresh token', { refreshToken: '' }],
    ['a refresh token no header could carry', { refreshToken: 'rt\nx' }],
    ['a null refresh token', { refreshToken: null }],
    ['a token type other than Bearer', { tokenType: 'bearer' }],
  ])('discards an entry whose tokens have %s', (_, change) => {
    const { entry } = valid()
    const raw = JSON.stringify({ ...entry, tokens: { ...entry.tokens, ...change } })
    expect(startOn(raw).tokens).toBeNull()
  })

  it.each([
    ['the JSON text null', 'null'],
    ['tokens that are null', '{"v":1,"tokens":null}'],
  ])('discards %s without throwing', (_, raw) => {
    expect(startOn(raw).tokens).toBeNull()
  })

  it('discards a value that is not a string, even one whose text is a valid entry', () => {
    const { entry } = valid()
    const text = JSON.stringify(entry)
    // A custom store must hand back the string it was given; anything else is corrupt.
    expect(startOn([text]).tokens).toBeNull()
    expect(startOn({ toString: () => text }).tokens).toBeNull()
  })

  it('starts without a session, and still keeps a new one, when an async read rejects', async () => {
    const { data, storage } = mapStorage()
    const auth = createClient({
      storage: { ...storage, get: () => Promise.reject(new Error('IndexedDB closed')) },
      crossTab: false,
    })
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
    expect(auth.tokens).toBeNull()

    const tokens = auth.setTokens(mock.issueTokens())
    expect(await auth.getAccessToken()).toBe(tokens.accessToken)
    expect(JSON.parse(data.get(KEY) as string).tokens).toEqual(tokens)
  })
})
