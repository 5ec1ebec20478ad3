/**
 * What the property tests share: the checks every result must pass (a well-formed `TokenSet`, a
 * typed error, no secret anywhere in an error) and msw handlers for origins the default mock does
 * not serve, answering CORS preflights as a real server must for happy-dom to let the call through.
 */
import { type AuthError, type AuthErrorCode, isAuthError, type TokenSet } from 'freshtoken'
import { HttpResponse, http } from 'msw'
import type { SetupServer } from 'msw/node'
import { expect } from 'vitest'
import { APP_ORIGIN } from '../mocks/setup.js'

/** Runs per property, chosen so that each file finishes in a few seconds on a shared machine. */
export const RUNS = {
  /** Pure, synchronous properties. */
  pure: 1_000,
  /** Properties that create a client but make no request. */
  client: 200,
  /** Properties that make requests through msw. */
  network: 60,
  /** Properties whose every run is a 401, a renewal and a retry (five requests with preflights). */
  retries: 30,
} as const

const TOKEN_SET_MEMBERS = new Set([
  'accessToken',
  'tokenType',
  'refreshToken',
  'expiresAt',
  'scope',
  'idToken',
])

/**
 * Asserts that `tokens` has the public `TokenSet` shape: a non-empty access token, a `tokenType`
 * of `types` (`'Bearer'`; a stored session may hold a DPoP one), optional string members, a
 * numeric expiry, and nothing else.
 */
export function expectTokenSetShape(
  tokens: unknown,
  types: readonly string[] = ['Bearer'],
): asserts tokens is TokenSet {
  expect(tokens).toBeTypeOf('object')
  expect(tokens).not.toBeNull()
  const record = tokens as Record<string, unknown>
  for (const key of Object.keys(record)) expect(TOKEN_SET_MEMBERS.has(key), key).toBe(true)
  expect(record.accessToken).toBeTypeOf('string')
  expect(record.accessToken).not.toBe('')
  expect(types).toContain(record.tokenType)
  for (const key of ['refreshToken', 'scope', 'idToken']) {
    if (key in record) expect(record[key], key).toBeTypeOf('string')
  }
  if ('expiresAt' in record) {
    expect(record.expiresAt).toBeTypeOf('number')
    expect(Number.isNaN(record.expiresAt)).toBe(false)
  }
}

/** Asserts that `error` is one of freshtoken's errors, with one of `codes` when given. */
export function expectAuthError(
  error: unknown,
  codes?: readonly AuthErrorCode[],
): asserts error is AuthError {
  if (!isAuthError(error)) {
    // Show what escaped instead of a bare `false`: that is the counterexample.
    throw new Error(`expected an AuthError, got ${String(error)}`, { cause: error })
  }
  if (codes !== undefined) expect(codes).toContain(error.code)
}

/**
 * Everything an error could show when logged or serialised: its message, its enumerable own
 * properties (as JSON and one by one) and the same for its `cause` chain.
 */
export function revealed(value: unknown, seen = new Set<unknown>()): string {
  if (value === null || typeof value !== 'object') return String(value)
  if (seen.has(value)) return ''
  seen.add(value)
  const parts: string[] = []
  if (value instanceof Error) parts.push(value.name, value.message)
  try {
    parts.push(JSON.stringify(value))
  } catch {
    // Not serialisable: the walk below still covers the members.
  }
  for (const [key, member] of Object.entries(value)) parts.push(key, revealed(member, seen))
  if (value instanceof Error && 'cause' in value) parts.push(revealed(value.cause, seen))
  return parts.join('\n')
}

/** Asserts that none of `secrets` appears in what `values` reveal. */
export function expectNothingRevealed(values: readonly unknown[], secrets: readonly string[]) {
  for (const value of values) {
    const text = revealed(value)
    for (const secret of secrets) expect(text).not.toContain(secret)
  }
}

/** CORS headers that let the app's page call an origin with a bearer token and read its 401. */
export const OPEN_CORS = {
  'Access-Control-Allow-Origin': APP_ORIGIN,
  'Access-Control-Allow-Methods': 'GET, POST, PUT, PATCH, DELETE',
  'Access-Control-Allow-Headers': 'Authorization, Content-Type',
  'Access-Control-Expose-Headers': 'WWW-Authenticate',
} as const

/**
 * Serves `url` (an msw path pattern) in front of the default mock: preflights get 204 with
 * {@link OPEN_CORS}, every other request gets `respond(request)` with the CORS headers added.
 */
export function serveWithCors(
  server: SetupServer,
  url: string,
  respond: (request: Request) => Response | Promise<Response>,
): void {
  server.use(
    http.all(url, async ({ request }) => {
      if (request.method === 'OPTIONS') {
        return new HttpResponse(null, { status: 204, headers: OPEN_CORS })
      }
      const response = await respond(request)
      for (const [name, value] of Object.entries(OPEN_CORS)) response.headers.set(name, value)
      return response
    }),
  )
}

/** Statuses whose response must not have a body (Fetch standard "null body status"). */
export const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([204, 205, 304])
