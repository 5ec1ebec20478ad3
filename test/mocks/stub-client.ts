/**
 * A client on a stub `fetch`, for tests that need exact control of each answer without msw: the
 * stub makes a `Request` of its arguments as fetch does (so a used body is refused, as by Node's
 * and browsers' fetch), answers the token endpoint with new tokens (`at-2`, `rt-2`) and hands
 * every API request to the test. The client works alone and starts signed in with `at-1`.
 */
import { createTokenClient, type TokenClient } from 'freshtoken'

export const STUB_API = 'https://api.example.com'
export const STUB_TOKEN_ENDPOINT = 'https://auth.example.com/token'

/**
 * Creates the client; `api` answers each API request. `sent` lists what went out, in order:
 * `'token'` for a token request, otherwise the request's `Authorization` header.
 */
export function createStubbedClient(api: (request: Request) => Promise<Response> | Response): {
  readonly auth: TokenClient
  readonly sent: string[]
} {
  const sent: string[] = []
  const auth = createTokenClient({
    clientId: 'spa',
    tokenEndpoint: STUB_TOKEN_ENDPOINT,
    apiOrigins: [STUB_API],
    crossTab: false,
    fetch: async (input, init) => {
      const request = new Request(input, init)
      if (request.url === STUB_TOKEN_ENDPOINT) {
        sent.push('token')
        return Response.json({ access_token: 'at-2', token_type: 'Bearer', refresh_token: 'rt-2' })
      }
      sent.push(request.headers.get('authorization') ?? '')
      return api(request)
    },
  })
  auth.setTokens({ access_token: 'at-1', token_type: 'Bearer', refresh_token: 'rt-1' })
  return { auth, sent }
}
