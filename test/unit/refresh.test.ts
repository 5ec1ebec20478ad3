import { afterEach, describe, expect, it, vi } from 'vitest'

describe('refresh failures outside the HTTP exchange', () => {
  afterEach(() => {
    vi.doUnmock('../../src/discovery.js')
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
})
