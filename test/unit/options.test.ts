import { createTokenClient, type TokenClientOptions } from 'freshtoken'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { resolveOptions } from '../../src/options.js'

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

  // RFC 6761 §6.3 localhost and below it, 127.0.0.0/8 in any form the URL parser reads as IPv4,
  // and [::1]: these never leave the machine. Look-alikes are names on the network.
  it.each([
    ['http://localhost/token', true],
    ['http://app.localhost:8080/token', true],
    ['http://LOCALHOST/token', true],
    ['http://127.0.0.1/token', true],
    ['http://127.255.3.9:9000/token', true],
    ['http://127.1/token', true],
    ['http://0x7f.0.0.1/token', true],
    ['http://2130706433/token', true],
    ['http://[::1]/token', true],
    ['http://127.0.0.1.evil.example/token', false],
    ['http://127.0.0.1.nip.io/token', false],
    ['http://localhost.evil.example/token', false],
    ['http://evil-localhost/token', false],
    ['http://notlocalhost/token', false],
    ['http://localhost./token', false],
    ['http://128.0.0.1/token', false],
    ['http://10.0.0.1/token', false],
    ['http://0.0.0.0/token', false],
    ['http://[::2]/token', false],
    ['http://[::ffff:127.0.0.1]/token', false],
    ['http://evil.example/127.0.0.1/token', false],
    ['http://evil.example?host=localhost', false],
    ['http://localhost@evil.example/token', false],
    // Loopback allows plain http, not any other scheme.
    ['ws://localhost/token', false],
    ['ftp://127.0.0.1/token', false],
  ])('decides whether plain http to %s stays on the machine: %s', (url, loopback) => {
    const create = () => createTokenClient({ clientId: 'spa', tokenEndpoint: url, apiOrigins: [] })
    if (loopback) create().dispose()
    else expect(create).toThrow('"tokenEndpoint" must use https: (http: only to loopback hosts)')
  })

  it.each([
    'https://api.example.com/v1',
    'https://api.example.com/v1/',
    'https://api.example.com//',
    'https://api.example.com/?tenant=1',
    'https://api.example.com?tenant=1',
    'https://api.example.com/#admin',
    'https://api.example.com#',
    'https://user@api.example.com',
    'https://user:secret@api.example.com',
  ])('rejects the apiOrigins entry %s: a token goes to every path of an origin', (entry) => {
    const create = () => createTokenClient({ ...base, apiOrigins: [entry] })
    expect(create).toThrow(TypeError)
    expect(create).toThrow(
      '"apiOrigins" must list origins only, such as "https://api.example.com" (a token goes to every path)',
    )
  })

  it.each([
    'https://api.example.com',
    'https://api.example.com/',
    'https://API.Example.com:443',
    'http://127.0.0.1:8080/',
  ])('accepts the apiOrigins entry %s', (entry) => {
    createTokenClient({ ...base, apiOrigins: [entry] }).dispose()
  })

  // The whole message, so an app developer reading it knows the rule without the docs.
  it.each<[Record<string, unknown>, string]>([
    [{ clientId: 7 }, '"clientId" must be a non-empty string'],
    [
      { tokenEndpoint: undefined },
      '"tokenEndpoint" must be given, or "issuer", or "backend" (exactly one)',
    ],
    [{ tokenEndpoint: new URL(base.tokenEndpoint) }, '"tokenEndpoint" must be an absolute URL'],
    [{ tokenEndpoint: 'not a url' }, '"tokenEndpoint" must be an absolute URL'],
    [
      { revocationEndpoint: 'http://auth.example.com/revoke' },
      '"revocationEndpoint" must use https: (http: only to loopback hosts)',
    ],
    [{ scope: ['read'] }, '"scope" must be a string'],
    [{ refreshLeeway: '5' }, '"refreshLeeway" must be a number of milliseconds >= 0'],
    [{ refreshLeeway: Infinity }, '"refreshLeeway" must be a number of milliseconds >= 0'],
    [{ refreshLeeway: Number.NaN }, '"refreshLeeway" must be a number of milliseconds >= 0'],
    [{ storage: null }, '"storage" must be "memory", "session", "local" or { get, set, remove }'],
    [
      { storage: { get: () => null, set: 'no', remove: () => undefined } },
      '"storage" must be "memory", "session", "local" or { get, set, remove }',
    ],
    [{ crossTab: 'yes' }, '"crossTab" must be a boolean'],
    [{ fetch: 'fetch' }, '"fetch" must be a function'],
    [{ apiOrigins: 'https://api.example.com' }, '"apiOrigins" must be an array of origins'],
    [{ apiOrigins: ['api.example.com'] }, '"apiOrigins" must be an absolute URL'],
  ])('rejects %o with the message %s', (override, message) => {
    const create = () => createTokenClient({ ...base, ...override } as TokenClientOptions)
    expect(create).toThrow(TypeError)
    expect(create).toThrow(new TypeError(message))
  })

  it('accepts each storage name and a custom store', () => {
    for (const storage of ['memory', 'session', 'local'] as const) {
      createTokenClient({ ...base, storage }).dispose()
    }
    const store = { get: () => null, set: () => undefined, remove: () => undefined }
    createTokenClient({ ...base, storage: store }).dispose()
  })

  it('accepts a refreshLeeway of 0', () => {
    createTokenClient({ ...base, refreshLeeway: 0 }).dispose()
  })

  describe('without apiOrigins', () => {
    afterEach(() => {
      vi.unstubAllGlobals()
    })

    it("sends tokens to the page's own origin only", () => {
      vi.stubGlobal('location', { origin: 'https://app.example.com' })
      expect([...resolveOptions(base).apiOrigins.keys()]).toEqual(['https://app.example.com'])
    })

    it.each<[string, unknown]>([
      ['outside a browser (no location)', undefined],
      ['in a sandboxed frame (origin "null")', { origin: 'null' }],
      ['when the origin is not a string', { origin: 42 }],
    ])('refuses to guess %s', (_, location) => {
      vi.stubGlobal('location', location)
      expect(() => createTokenClient(base)).toThrow(
        new TypeError('"apiOrigins" must be given outside a browser'),
      )
    })

    it('refuses a page origin on plain http to a host on the network', () => {
      vi.stubGlobal('location', { origin: 'http://app.example.com' })
      expect(() => createTokenClient(base)).toThrow(
        new TypeError('"apiOrigins" must use https: (http: only to loopback hosts)'),
      )
    })
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
