import { createTokenClient, type TokenStorage } from 'freshtoken'
import { afterEach, describe, expect, it } from 'vitest'

const base = {
  clientId: 'spa',
  tokenEndpoint: 'https://auth.example.com/token',
  apiOrigins: ['https://api.example.com'],
}
const response = { access_token: 'at', token_type: 'Bearer', expires_in: 60, refresh_token: 'rt' }

function memoryBackend(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial))
  const storage: TokenStorage = {
    get: (key) => data.get(key) ?? null,
    set: (key, value) => {
      data.set(key, value)
    },
    remove: (key) => {
      data.delete(key)
    },
  }
  return { data, storage }
}

afterEach(() => {
  localStorage.clear()
  sessionStorage.clear()
})

describe('storage', () => {
  it('keeps the default memory session off Web Storage entirely', () => {
    const auth = createTokenClient(base)
    auth.setTokens(response)
    expect(localStorage.length).toBe(0)
    expect(sessionStorage.length).toBe(0)
    auth.dispose()
  })

  it.each(['local', 'session'] as const)(
    'restores a %sStorage session in a new client at once',
    (kind) => {
      const first = createTokenClient({ ...base, storage: kind })
      const set = first.setTokens(response)
      first.dispose()
      const second = createTokenClient({ ...base, storage: kind })
      expect(second.tokens).toEqual(set)
      second.dispose()
    },
  )

  it('keys sessions by client id so two clients on one origin do not collide', () => {
    const a = createTokenClient({ ...base, storage: 'local' })
    a.setTokens(response)
    const b = createTokenClient({ ...base, clientId: 'other', storage: 'local' })
    expect(b.tokens).toBeNull()
    a.dispose()
    b.dispose()
  })

  it('restores from async custom storage before the first call uses the session', async () => {
    const { storage, data } = memoryBackend()
    const writer = createTokenClient({ ...base, storage })
    writer.setTokens(response)
    writer.dispose()
    const slow: TokenStorage = {
      get: async (key) => data.get(key) ?? null,
      set: async () => undefined,
      remove: async () => undefined,
    }
    const reader = createTokenClient({ ...base, storage: slow })
    expect(await reader.getAccessToken()).toBe('at')
    reader.dispose()
  })

  it.each([
    ['not JSON', '{oops'],
    [
      'another version',
      JSON.stringify({ v: 2, tokens: { accessToken: 'x', tokenType: 'Bearer' } }),
    ],
    ['foreign data', JSON.stringify({ user: 'someone' })],
    ['wrong types', JSON.stringify({ v: 1, tokens: { accessToken: 5, tokenType: 'Bearer' } })],
    [
      'a non-Bearer token',
      JSON.stringify({ v: 1, tokens: { accessToken: 'x', tokenType: 'MAC' } }),
    ],
  ])('discards %s in storage instead of crashing', async (_, raw) => {
    const { storage } = memoryBackend({ 'freshtoken:spa': raw })
    const auth = createTokenClient({ ...base, storage })
    expect(auth.tokens).toBeNull()
    await expect(auth.getAccessToken()).rejects.toMatchObject({ code: 'no_session' })
    auth.dispose()
  })

  it('survives a storage whose reads and writes throw', async () => {
    const storage: TokenStorage = {
      get: () => {
        throw new Error('SecurityError')
      },
      set: () => {
        throw new Error('QuotaExceededError')
      },
      remove: () => Promise.reject(new Error('gone')),
    }
    const auth = createTokenClient({ ...base, storage })
    auth.setTokens(response)
    expect(await auth.getAccessToken()).toBe('at')
    await auth.logout()
    expect(auth.tokens).toBeNull()
    auth.dispose()
  })

  it('removes the stored session on logout', async () => {
    const { storage, data } = memoryBackend()
    const auth = createTokenClient({ ...base, storage })
    auth.setTokens(response)
    expect(data.size).toBe(1)
    await auth.logout()
    expect(data.size).toBe(0)
    auth.dispose()
  })
})
