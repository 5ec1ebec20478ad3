import { type SetupServer, setupServer } from 'msw/node'
import { afterAll, afterEach, beforeAll } from 'vitest'
import {
  createMockTokenServer,
  type MockTokenServer,
  type MockTokenServerOptions,
} from '../../src/testing/index.js'

/** The page origin of the test environment (happy-dom's URL in test/vitest.config.ts). */
export const APP_ORIGIN = 'https://app.example.com'
/** Issuer of the default mock authorization server. */
export const ISSUER = 'https://auth.example.com'
/** Origin of the default mock API. */
export const API_ORIGIN = 'https://api.example.com'
/** The default mock's public client. */
export const CLIENT_ID = 'spa'
/** A client of the default mock: its token and revocation endpoints, tokens for the mock API. */
export const MOCK_CLIENT_OPTIONS = {
  clientId: CLIENT_ID,
  tokenEndpoint: `${ISSUER}/oauth/token`,
  revocationEndpoint: `${ISSUER}/oauth/revoke`,
  apiOrigins: [API_ORIGIN],
}

/** A mock token server and an msw node server serving its handlers. */
export interface MockEnvironment {
  /** The mock authorization server and API. */
  readonly mock: MockTokenServer
  /** The msw server; add per-test handlers with `server.use()`. */
  readonly server: SetupServer
  /** Starts intercepting; any request no handler matches fails (`onUnhandledFrame: 'error'`). */
  start(): void
  /** Drops per-test handlers and resets the mock (tokens, faults, counters, logs). */
  reset(): void
  /** Stops intercepting. */
  stop(): void
  /**
   * Serves another mock, built like {@link MockEnvironment.mock} but with `options` on top, in
   * front of it (`server.use()`, so until the next {@link MockEnvironment.reset}): a mock with other
   * options than the file's default, for one test.
   */
  serve(options: MockTokenServerOptions): MockTokenServer
}

/**
 * Creates the default mock (issuer https://auth.example.com, API https://api.example.com, client
 * `spa`, app origin https://app.example.com allowed by CORS) and an msw node server using its
 * handlers. Nothing is started.
 *
 * @param options - overrides of the mock's defaults
 * @returns the environment
 */
export function createMockEnvironment(options: MockTokenServerOptions = {}): MockEnvironment {
  const create = (overrides: MockTokenServerOptions = {}) =>
    createMockTokenServer({
      issuer: ISSUER,
      clientId: CLIENT_ID,
      apiOrigin: API_ORIGIN,
      allowedOrigins: [APP_ORIGIN],
      ...options,
      ...overrides,
    })
  const mock = create()
  const server = setupServer(...mock.handlers)
  return {
    mock,
    server,
    start() {
      // msw 3 renamed `onUnhandledRequest` to `onUnhandledFrame`.
      server.listen({ onUnhandledFrame: 'error' })
    },
    reset() {
      server.resetHandlers()
      mock.reset()
    },
    stop() {
      server.close()
    },
    serve(overrides) {
      const custom = create(overrides)
      server.use(...custom.handlers)
      return custom
    },
  }
}

/**
 * {@link createMockEnvironment} wired into the current test file's lifecycle: started before all
 * tests, reset after each, stopped after all. Call it once at the top level of a test file.
 *
 * @param options - overrides of the mock's defaults
 * @returns the environment
 * @example
 * ```ts
 * const { mock } = useMockEnvironment({ accessTokenLifetime: 30_000 })
 *
 * it('renews once on a 401', async () => {
 *   auth.setTokens(mock.issueTokens())
 *   mock.expireAccessTokens()
 *   await auth.fetch('https://api.example.com/me')
 *   expect(mock.counters.token).toBe(1)
 * })
 * ```
 */
export function useMockEnvironment(options: MockTokenServerOptions = {}): MockEnvironment {
  const environment = createMockEnvironment(options)
  beforeAll(() => environment.start())
  afterEach(() => environment.reset())
  afterAll(() => environment.stop())
  return environment
}
