// Run by package.test.ts inside a temporary app that installed the packed tarball: it uses
// freshtoken exactly as an app would, from plain node, and prints a JSON report on its last line.
import { createTokenClient, isAuthError } from 'freshtoken'
import { createMockTokenServer } from 'freshtoken/testing'
import { HttpResponse, http } from 'msw'
import { setupServer } from 'msw/node'

const mock = createMockTokenServer()
// A second API that echoes the Authorization header, to see exactly what auth.fetch sent.
const echo = 'https://echo.example.com'
const server = setupServer(
  ...mock.handlers,
  http.get(`${echo}/authorization`, ({ request }) =>
    HttpResponse.json({ authorization: request.headers.get('authorization') }),
  ),
)
server.listen({ onUnhandledFrame: 'error' })

const auth = createTokenClient({
  clientId: 'spa',
  tokenEndpoint: mock.endpoints.token,
  apiOrigins: [mock.endpoints.api, echo],
})
const sent = async () => (await (await auth.fetch(`${echo}/authorization`)).json()).authorization

try {
  const issued = mock.issueTokens()
  auth.setTokens(issued)

  const me = await auth.fetch(`${mock.endpoints.api}/me`)
  const firstAuthorization = await sent()
  const tokenCallsBefore = mock.counters.token
  const refreshed = await auth.refresh()
  const tokenCalls = mock.counters.token - tokenCallsBefore
  const meAfter = await auth.fetch(`${mock.endpoints.api}/me`)
  const secondAuthorization = await sent()

  mock.revokeRefreshTokens()
  const failure = await auth.refresh().then(
    () => undefined,
    (error) => error,
  )

  console.log(
    JSON.stringify({
      meStatus: me.status,
      meAfterStatus: meAfter.status,
      apiTokenStates: mock.log.api.map((entry) => entry.token),
      firstAuthorizationIsIssued: firstAuthorization === `Bearer ${issued.access_token}`,
      secondAuthorizationIsRefreshed: secondAuthorization === `Bearer ${refreshed.accessToken}`,
      rotated:
        refreshed.accessToken !== issued.access_token &&
        typeof refreshed.refreshToken === 'string' &&
        refreshed.refreshToken !== issued.refresh_token,
      tokenCalls,
      failureIsAuthError: isAuthError(failure),
      failureCode: failure?.code,
      plainErrorIsAuthError: isAuthError(new Error('not ours')),
    }),
  )
} finally {
  auth.dispose()
  server.close()
}
