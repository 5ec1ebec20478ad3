import { createTokenClient, type TokenClientOptions } from 'freshtoken'
import { describe, expect, it } from 'vitest'

const base = { clientId: 'spa', tokenEndpoint: 'https://auth.example.com/token' }

describe('createTokenClient options', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an empty clientId', { clientId: '' }, '"clientId"'],
    ['both tokenEndpoint and issuer', { issuer: 'https://auth.example.com' }, 'exactly one'],
    ['neither tokenEndpoint nor issuer', { tokenEndpoint: undefined }, 'exactly one'],
    [
      'a relative tokenEndpoint',
      { tokenEndpoint: '/token' },
      '"tokenEndpoint" must be an absolute URL',
    ],
    [
      'a plain-http tokenEndpoint',
      { tokenEndpoint: 'http://auth.example.com/token' },
      '"tokenEndpoint" must use https:',
    ],
    [
      'a plain-http api origin',
      { apiOrigins: ['http://api.example.com'] },
      '"apiOrigins" must use https:',
    ],
    [
      'apiOrigins that is not an array',
      { apiOrigins: 'https://api.example.com' as never },
      '"apiOrigins"',
    ],
    ['a negative refreshLeeway', { refreshLeeway: -1 }, '"refreshLeeway"'],
    ['an unknown storage', { storage: 'cookie' as never }, '"storage"'],
    [
      'a storage missing remove()',
      { storage: { get: () => null, set: () => undefined } as never },
      '"storage"',
    ],
  ])('rejects %s with a TypeError naming the option', (_, override, message) => {
    expect(() => createTokenClient({ ...base, ...override } as TokenClientOptions)).toThrow(
      TypeError,
    )
    expect(() => createTokenClient({ ...base, ...override } as TokenClientOptions)).toThrow(message)
  })

  it('accepts plain http to loopback hosts', () => {
    const auth = createTokenClient({
      clientId: 'spa',
      tokenEndpoint: 'http://127.0.0.1:8080/token',
      apiOrigins: ['http://localhost:3000', 'http://[::1]:4000'],
    })
    auth.dispose()
  })

  it('does not mutate the options object it is given', () => {
    const options = Object.freeze({
      ...base,
      apiOrigins: Object.freeze(['https://api.example.com']),
    })
    const auth = createTokenClient(options)
    expect(options).toEqual({ ...base, apiOrigins: ['https://api.example.com'] })
    auth.dispose()
  })
})
