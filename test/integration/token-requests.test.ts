/**
 * What the token endpoint code (src/token-endpoint.ts) makes of an exchange, seen through an
 * app's own `fetch` option, which answers every request itself: the words of its errors (a body
 * that is not a JSON object, an unreachable server, a server that never answers), that an
 * exchange leaves no timer behind, that logout without a revocation endpoint sends nothing, and
 * the `Accept` header of a discovery request (RFC 8414 §3).
 */
import {
  createTokenClient,
  InvalidTokenResponseError,
  type TokenClient,
  type TokenClientOptions,
  TokenEndpointUnavailableError,
} from 'freshtoken'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { stepUntilSettled } from '../mocks/time.js'

const ISSUER = 'https://auth.example.com'
const TOKEN_ENDPOINT = `${ISSUER}/token`
const LOGIN = { access_token: 'at_login', token_type: 'Bearer', refresh_token: 'rt_login' }

/** Steps fake time until the promise settles: renewals retry in place after pauses. */
const advanceUntil = stepUntilSettled(100)

const clients: TokenClient[] = []

/** A signed-in client whose every request is answered by `answer`. */
function signedIn(
  answer: (url: string, init: RequestInit | undefined) => Promise<Response>,
  options: Record<string, unknown> = {},
): TokenClient {
  const auth = createTokenClient({
    clientId: 'spa',
    tokenEndpoint: TOKEN_ENDPOINT,
    apiOrigins: ['https://api.example.com'],
    fetch: (input, init) => answer(String(input instanceof Request ? input.url : input), init),
    ...options,
  } as TokenClientOptions)
  clients.push(auth)
  auth.setTokens(LOGIN)
  return auth
}

beforeEach(() => {
  vi.useFakeTimers()
  // Every pause at its full length.
  vi.spyOn(Math, 'random').mockReturnValue(0)
})

afterEach(() => {
  for (const auth of clients.splice(0)) auth.dispose()
  vi.useRealTimers()
  vi.restoreAllMocks()
})

describe('a token response that is not a JSON object', () => {
  it.each<[string, BodyInit, Record<string, string>, string]>([
    ['JSON null', 'null', { 'content-type': 'application/json' }, 'application/json'],
    [
      'a JSON string',
      '"at_string"',
      { 'content-type': 'application/json; charset=utf-8' },
      'application/json',
    ],
    [
      'an HTML page',
      '<h1>Welcome</h1>',
      { 'content-type': 'text/html; charset=utf-8' },
      'text/html',
    ],
    ['bytes of no declared type', new Uint8Array([0x7b]), {}, 'no content type'],
  ])('is named with its status and content type: %s', async (_, body, headers, type) => {
    const auth = signedIn(async () => new Response(body, { status: 200, headers }))
    const error = await auth.refresh().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(InvalidTokenResponseError)
    expect((error as Error).message).toBe(
      `token endpoint answered HTTP 200 with a body that is not a JSON object (${type})`,
    )
    expect(auth.tokens?.accessToken).toBe('at_login')
  })
})

describe('a token endpoint that refuses', () => {
  it.each<[string, number, unknown, string, string]>([
    ['a 503', 503, null, 'TokenEndpointUnavailableError', 'token endpoint answered HTTP 503'],
    [
      'a 400 without an error member',
      400,
      { message: 'no' },
      'InvalidTokenResponseError',
      'token endpoint answered HTTP 400 without an RFC 6749 "error" member',
    ],
    [
      'a 400 with an error',
      400,
      { error: 'invalid_request', error_description: 'bad' },
      'TokenEndpointError',
      'token endpoint answered HTTP 400 with error "invalid_request"',
    ],
  ])('is named with its status: %s', async (_, status, body, name, message) => {
    const auth = signedIn(async () => Response.json(body, { status }))
    const error = await advanceUntil(auth.refresh()).catch((caught: unknown) => caught)
    expect(error).toMatchObject({ name, message })
    expect(auth.tokens?.accessToken).toBe('at_login')
  })

  it('drops an error_description that is not a string', async () => {
    const auth = signedIn(async () =>
      Response.json({ error: 'invalid_request', error_description: 42 }, { status: 400 }),
    )
    const error = await auth.refresh().catch((caught: unknown) => caught)
    expect(error).toMatchObject({
      name: 'TokenEndpointError',
      error: 'invalid_request',
      errorDescription: undefined,
    })
  })
})

describe('a token server out of reach', () => {
  it('says so, and keeps only the words of the network error and of its cause', async () => {
    const auth = signedIn(() =>
      Promise.reject(
        new TypeError('Failed to fetch', { cause: new Error('connect ECONNREFUSED 10.0.0.1:443') }),
      ),
    )
    const error = await advanceUntil(auth.refresh()).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(TokenEndpointUnavailableError)
    expect((error as Error).message).toBe('token endpoint could not be reached (network error)')
    expect(((error as Error).cause as Error).message).toBe(
      'Failed to fetch: connect ECONNREFUSED 10.0.0.1:443',
    )
  })

  it('keeps nothing of a rejection that carries no words', async () => {
    const auth = signedIn(() => Promise.reject({ message: 42, cause: { message: ['rt_login'] } }))
    const error = await advanceUntil(auth.refresh()).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(TokenEndpointUnavailableError)
    expect(((error as Error).cause as Error).message).toBe('')
  })

  it('gives up on a server that never answers after 10 s, and says so', async () => {
    const requests: number[] = []
    const auth = signedIn(
      (_, init) =>
        new Promise((_resolve, reject) => {
          requests.push(Date.now())
          init?.signal?.addEventListener('abort', () => reject(init.signal?.reason))
        }),
    )
    const start = Date.now()
    const error = await advanceUntil(auth.refresh(), 120_000).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(TokenEndpointUnavailableError)
    expect((error as Error).message).toBe('token endpoint did not answer within 10000 ms')
    // Three requests: each given up after 10 s, then pauses of 1 s and 2 s in place.
    expect(requests.map((at) => at - start)).toEqual([0, 11_000, 23_000])
  })
})

it('leaves no timer behind once an exchange is over', async () => {
  // No expires_in: no renewal to schedule either.
  // Alone (crossTab: false): a shared renewal keeps its lock a moment for the siblings.
  const auth = signedIn(
    async () =>
      Response.json({ access_token: 'at_renewed', token_type: 'Bearer', refresh_token: 'rt_2' }),
    { crossTab: false },
  )
  await auth.refresh()
  expect(auth.tokens?.accessToken).toBe('at_renewed')
  expect(vi.getTimerCount()).toBe(0)
})

it('sends nothing at logout without a revocation endpoint', async () => {
  const answer = vi.fn(async () => new Response(null, { status: 200 }))
  const auth = signedIn(answer)
  await auth.logout()
  expect(answer).not.toHaveBeenCalled()
  expect(auth.tokens).toBeNull()
})

it('asks for discovery metadata as JSON (RFC 8414 §3)', async () => {
  const seen: { url: string; accept: string | null }[] = []
  const auth = signedIn(
    async (url, init) => {
      seen.push({ url, accept: new Headers(init?.headers).get('accept') })
      return url.endsWith('/.well-known/oauth-authorization-server')
        ? Response.json({ issuer: ISSUER, token_endpoint: TOKEN_ENDPOINT })
        : Response.json({ access_token: 'at_renewed', token_type: 'Bearer' })
    },
    { tokenEndpoint: undefined, issuer: ISSUER },
  )
  await auth.refresh()
  expect(seen).toEqual([
    { url: `${ISSUER}/.well-known/oauth-authorization-server`, accept: 'application/json' },
    { url: TOKEN_ENDPOINT, accept: 'application/json' },
  ])
})
