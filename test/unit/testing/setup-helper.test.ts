import { describe, expect, it } from 'vitest'
import { API_ORIGIN, ISSUER, useMockEnvironment } from '../../mocks/setup.js'

const { mock, server } = useMockEnvironment({ accessTokenLifetime: 30_000 })

describe('useMockEnvironment', () => {
  it('serves the default mock for the app origin with the given overrides', async () => {
    expect(mock.endpoints.token).toBe(`${ISSUER}/oauth/token`)
    const session = mock.issueTokens()
    expect(session.expires_in).toBe(30)
    const response = await fetch(`${API_ORIGIN}/me`, {
      headers: { Authorization: `Bearer ${session.access_token}` },
    })
    expect(response.status).toBe(200)
    expect(mock.counters.api).toBe(1)
  })

  it('resets the mock between tests', () => {
    expect(mock.counters.api).toBe(0)
    expect(mock.log.api).toHaveLength(0)
    expect(server.listHandlers()).toHaveLength(mock.handlers.length)
  })
})
