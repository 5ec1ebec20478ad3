// @vitest-environment node
// Node's own fetch sends `Origin` and `Access-Control-Request-*` as given and enforces no CORS, so
// this file checks the exact headers a real browser would receive. happy-dom's Request class strips
// those forbidden headers before msw sees them (see mock-token-server.test.ts for its behaviour).
import { setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createMockTokenServer, type MockTokenServer } from '../../../src/testing/index.js'

const APP = 'https://app.example.com'
const server = setupServer()
beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
afterEach(() => server.resetHandlers())
afterAll(() => server.close())

function serve(allowedOrigins?: readonly string[]): MockTokenServer {
  const mock = createMockTokenServer(allowedOrigins === undefined ? {} : { allowedOrigins })
  server.use(...mock.handlers)
  return mock
}

function preflight(url: string, origin: string, method: string): Promise<Response> {
  return fetch(url, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': method,
      'Access-Control-Request-Headers': 'authorization,content-type',
    },
  })
}

describe('CORS as a browser sees it', () => {
  it('answers a preflight from the app origin on every endpoint with its methods', async () => {
    const mock = serve()
    const cases = [
      [mock.endpoints.token, 'POST', 'POST'],
      [mock.endpoints.revocation, 'POST', 'POST'],
      [mock.endpoints.oauthMetadata, 'GET', 'GET'],
      [mock.endpoints.openidConfiguration, 'GET', 'GET'],
      ['https://api.example.com/me', 'GET', 'GET, HEAD, POST, PUT, PATCH, DELETE'],
      ['https://api.example.com/echo', 'PATCH', 'GET, HEAD, POST, PUT, PATCH, DELETE'],
    ] as const
    for (const [url, method, allowed] of cases) {
      const response = await preflight(url, APP, method)
      expect(response.status).toBe(204)
      expect(Object.fromEntries(response.headers)).toMatchObject({
        'access-control-allow-origin': APP,
        'access-control-allow-methods': allowed,
        'access-control-allow-headers': 'Authorization, Content-Type, DPoP',
        vary: 'Origin',
      })
    }
    expect(mock.counters).toMatchObject({ preflight: 6, token: 0, api: 0, discovery: 0 })
  })

  it('withholds every CORS header from an origin that is not allowed', async () => {
    const mock = serve()
    const denied = await preflight(mock.endpoints.token, 'https://evil.example.com', 'POST')
    expect(denied.status).toBe(204)
    expect(denied.headers.get('Access-Control-Allow-Origin')).toBeNull()
    expect(denied.headers.get('Access-Control-Allow-Methods')).toBeNull()

    const actual = await fetch('https://api.example.com/me', {
      headers: { Origin: 'https://evil.example.com' },
    })
    expect(actual.status).toBe(401)
    expect(actual.headers.get('Access-Control-Allow-Origin')).toBeNull()
    expect(actual.headers.get('Access-Control-Expose-Headers')).toBeNull()
  })

  it('echoes whichever allowed origin asks, with Vary: Origin', async () => {
    const mock = serve([APP, 'https://admin.example.com'])
    const session = mock.issueTokens()
    for (const origin of [APP, 'https://admin.example.com']) {
      const response = await fetch('https://api.example.com/me', {
        headers: { Origin: origin, Authorization: `Bearer ${session.access_token}` },
      })
      expect(response.status).toBe(200)
      expect(response.headers.get('Access-Control-Allow-Origin')).toBe(origin)
      expect(response.headers.get('Vary')).toBe('Origin')
    }
  })

  it('exposes WWW-Authenticate on a 401 so a cross-origin caller can read the challenge', async () => {
    serve()
    const response = await fetch('https://api.example.com/me', {
      headers: { Origin: APP, Authorization: 'Bearer at_forged' },
    })
    expect(response.headers.get('Access-Control-Expose-Headers')).toContain('WWW-Authenticate')
    expect(response.headers.get('WWW-Authenticate')).toContain('error="invalid_token"')
  })

  it('answers a GET to the token endpoint with 405 and Allow: POST', async () => {
    const mock = serve()
    const response = await fetch(mock.endpoints.token, { headers: { Origin: APP } })
    expect(response.status).toBe(405)
    expect(response.headers.get('Allow')).toBe('POST, OPTIONS')
    expect(await response.json()).toMatchObject({ error: 'invalid_request' })
    expect(response.headers.get('Access-Control-Allow-Origin')).toBe(APP)
  })

  it('fails a network-error fault with the TypeError a browser fetch raises', async () => {
    const mock = serve()
    mock.injectFault({ type: 'network-error' })
    await expect(
      fetch(mock.endpoints.token, { method: 'POST', body: new URLSearchParams() }),
    ).rejects.toThrow(TypeError)
  })
})
