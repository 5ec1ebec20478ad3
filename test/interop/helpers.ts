/** Small helpers shared by the interop tests. */
import { createTokenClient, type TokenClient, type TokenClientOptions } from 'freshtoken'
import { afterEach } from 'vitest'
import { type PlainResponse, postForm } from '../servers/http-utils.js'
import type { TokenResponseBody } from '../servers/token-response.js'

/**
 * Resolves with the payload of the next `event`, or rejects after `timeout` ms: a bounded wait for
 * something the SDK does on its own (a proactive renewal), never a sleep.
 */
export function nextEvent<E extends 'refresh' | 'tokens' | 'expired' | 'logout' | 'error'>(
  auth: TokenClient,
  event: E,
  timeout: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no "${event}" event within ${timeout} ms`))
    }, timeout)
    const off = auth.on(event, (payload) => {
      clearTimeout(timer)
      off()
      resolve(payload)
    })
  })
}

/** What {@link useFixtureClients} needs of a real-server fixture (test/servers/). */
export interface FixtureServer {
  /** The server's origin, the client's API origin. */
  readonly url: string
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string
  /** Logs a user in as the app's login would. */
  login(): Promise<TokenResponseBody>
}

/** How {@link useFixtureClients} tears down each test. */
export interface FixtureClientsOptions {
  /** Runs after each test, before the clients are disposed. */
  readonly beforeDispose?: () => void
  /** Runs after each test, after the clients are disposed. */
  readonly afterDispose?: () => void
}

/** Clients of one interop test file; see {@link useFixtureClients}. */
export interface FixtureClients {
  /**
   * A client of the fixture (public client `spa`, its token and revocation endpoints, its origin as
   * the API origin) with `options` on top; it is disposed after the test.
   */
  createClient(options?: Partial<TokenClientOptions>): TokenClient
  /** {@link FixtureClients.createClient}, signed in with a fresh login at the fixture. */
  signedInClient(options?: Partial<TokenClientOptions>): Promise<TokenClient>
  /** Disposes `client`, created some other way, after the test like the others; returns it. */
  track(client: TokenClient): TokenClient
}

/**
 * Clients of a real-server fixture wired into the current test file's lifecycle: after each test,
 * `beforeDispose`, `dispose()` of every client created or tracked, then `afterDispose`.
 *
 * @param server - the fixture, read when a client is created (it is started in `beforeAll`)
 * @param options - extra teardown around the disposal
 * @returns the clients
 */
export function useFixtureClients(
  server: () => FixtureServer,
  { beforeDispose, afterDispose }: FixtureClientsOptions = {},
): FixtureClients {
  const clients: TokenClient[] = []
  afterEach(() => {
    beforeDispose?.()
    for (const auth of clients.splice(0)) auth.dispose()
    afterDispose?.()
  })
  const track = (client: TokenClient): TokenClient => {
    clients.push(client)
    return client
  }
  const createClient = (options: Partial<TokenClientOptions> = {}): TokenClient => {
    const fixture = server()
    return track(
      createTokenClient({
        clientId: 'spa',
        tokenEndpoint: fixture.tokenEndpoint,
        revocationEndpoint: fixture.revocationEndpoint,
        apiOrigins: [fixture.url],
        ...options,
      }),
    )
  }
  return {
    createClient,
    async signedInClient(options = {}) {
      const auth = createClient(options)
      auth.setTokens(await server().login())
      return auth
    },
    track,
  }
}

/**
 * Presents `refreshToken` in a refresh grant of the public client `spa` outside the SDK (over
 * `node:http`, see {@link postForm}), as an attacker holding a stolen copy would.
 */
export function postRefreshGrant(
  tokenEndpoint: string,
  refreshToken: string,
): Promise<PlainResponse> {
  return postForm(tokenEndpoint, {
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: 'spa',
  })
}

/** The claims of a JWT (its payload segment), not verified. */
export function jwtClaims(token: string): {
  iat: number
  exp: number
  sub: string
  [claim: string]: unknown
} {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'))
}
