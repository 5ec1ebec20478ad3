import { afterEach, describe, expect, it, vi } from 'vitest'

describe('refresh failures outside the HTTP exchange', () => {
  afterEach(() => {
    vi.doUnmock('../../src/discovery.js')
    vi.doUnmock('../../src/rejection-policy.js')
    vi.resetModules()
  })

  it('reports a discovery chunk that fails to load as token_endpoint_unavailable and keeps the session', async () => {
    // What a browser does when the lazily loaded chunk cannot be fetched (offline, new deploy).
    vi.doMock('../../src/discovery.js', () => {
      throw new TypeError('Failed to fetch dynamically imported module: discovery.js')
    })
    const { createTokenClient } = await import('../../src/index.js')
    const auth = createTokenClient({
      clientId: 'spa',
      issuer: 'https://auth.example.com',
      apiOrigins: ['https://api.example.com'],
    })
    const tokens = auth.setTokens({
      access_token: 'at-secret',
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: 'rt-secret',
    })
    const errors: unknown[] = []
    auth.on('error', (error) => errors.push(error))

    const failure = await auth.refresh().catch((error: unknown) => error)

    expect(failure).toMatchObject({
      name: 'TokenEndpointUnavailableError',
      code: 'token_endpoint_unavailable',
    })
    expect(errors).toEqual([failure])
    expect(auth.tokens).toEqual(tokens)
    expect(JSON.stringify(failure)).not.toMatch(/secret/)
    auth.dispose()
  })

  it('answers a 401 with the 401 itself when the 401 policy chunk fails to load, keeping the session', async () => {
    vi.doMock('../../src/rejection-policy.js', () => {
      throw new TypeError('Failed to fetch dynamically imported module: rejection-policy.js')
    })
    const { createTokenClient } = await import('../../src/index.js')
    const sent: string[] = []
    const auth = createTokenClient({
      clientId: 'spa',
      tokenEndpoint: 'https://auth.example.com/token',
      apiOrigins: ['https://api.example.com'],
      crossTab: false,
      fetch: async (input) => {
        sent.push(String(input instanceof Request ? input.url : input))
        return new Response(null, { status: 401 })
      },
    })
    const tokens = auth.setTokens({
      access_token: 'at-secret',
      token_type: 'Bearer',
      expires_in: 3600,
      refresh_token: 'rt-secret',
    })

    const response = await auth.fetch('https://api.example.com/me')

    expect(response.status).toBe(401)
    // No renewal without the policy: the call was sent once, and no token request followed.
    expect(sent).toEqual(['https://api.example.com/me'])
    expect(auth.tokens).toEqual(tokens)
    auth.dispose()
  })

  it('renews a session whose access token has expired without a negative timer (no Node warning)', async () => {
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on('warning', onWarning)
    try {
      const { createTokenClient } = await import('../../src/index.js')
      const auth = createTokenClient({
        clientId: 'spa',
        tokenEndpoint: 'https://auth.example.com/token',
        apiOrigins: ['https://api.example.com'],
        crossTab: false,
        fetch: async () =>
          Response.json({ access_token: 'at-2', token_type: 'Bearer', expires_in: 3600 }),
      })
      // expires_in 0: expired on arrival, so the drain before the renewal has no time left.
      auth.setTokens({
        access_token: 'at-1',
        token_type: 'Bearer',
        expires_in: 0,
        refresh_token: 'rt-1',
      })
      expect((await auth.refresh()).accessToken).toBe('at-2')
      // Node emits its warnings on a later tick.
      await new Promise((resolve) => setImmediate(resolve))
      auth.dispose()
    } finally {
      process.off('warning', onWarning)
    }
    expect(warnings).toEqual([])
  })
})
