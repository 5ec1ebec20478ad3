/**
 * The token-server chunk cannot be loaded (the page's own server is unreachable, a deploy removed
 * the old chunk): a renewal fails as if the token server were out of reach, with the pause that
 * follows any failure, the session is kept, and logout still forgets the session.
 */
import { createTokenClient, TokenEndpointUnavailableError } from 'freshtoken'
import { afterEach, expect, it, vi } from 'vitest'

vi.mock('../../src/token-server.js', () => {
  throw new Error('Failed to fetch dynamically imported module: /assets/token-server-x.js')
})

afterEach(() => {
  vi.useRealTimers()
})

it('fails a renewal as token_endpoint_unavailable, pauses, keeps the session, and logs out', async () => {
  vi.useFakeTimers()
  const fetch = vi.fn(async () => new Response(null, { status: 500 }))
  const auth = createTokenClient({
    clientId: 'spa',
    tokenEndpoint: 'https://auth.example.com/token',
    revocationEndpoint: 'https://auth.example.com/revoke',
    apiOrigins: ['https://api.example.com'],
    fetch,
  })
  const errors: unknown[] = []
  auth.on('error', (error) => errors.push(error))
  const tokens = auth.setTokens({ access_token: 'at', token_type: 'Bearer', refresh_token: 'rt' })

  const failure = await auth.refresh().catch((caught: unknown) => caught)
  expect(failure).toBeInstanceOf(TokenEndpointUnavailableError)
  expect(failure).toMatchObject({ message: 'token endpoint code not loaded' })
  expect(errors).toEqual([failure])
  expect(auth.tokens).toBe(tokens)

  // The pause that follows a failure holds back the next renewal, without another attempt.
  const paused = await auth.refresh().catch((caught: unknown) => caught)
  expect(paused).toBe(failure)
  expect(errors).toHaveLength(1)

  await auth.logout()
  expect(auth.tokens).toBeNull()
  expect(fetch).not.toHaveBeenCalled()
  auth.dispose()
})
