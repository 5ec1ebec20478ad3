/**
 * `auth.setTokens(x)` for any `x`: it returns the `TokenSet` the response describes or throws
 * `InvalidTokenResponseError`, never anything else, and a rejected response leaves a working
 * session exactly as it was. The properties hold for stricter acceptance rules too (empty tokens,
 * characters outside RFC 6749 VSCHAR): what is accepted must be right, what is rejected must be
 * rejected with the typed error.
 */

import fc from 'fast-check'
import {
  createTokenClient,
  InvalidTokenResponseError,
  type TokenClient,
  type TokenClientOptions,
  type TokenResponse,
  type TokenSet,
} from 'freshtoken'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { API_ORIGIN, CLIENT_ID, useMockEnvironment } from '../mocks/setup.js'
import { T0 } from '../mocks/time.js'
import {
  anyNumber,
  anyString,
  buildObject,
  edits,
  junk,
  jwtToken,
  prototypeOf,
  scopeValue,
  secretCore,
  tokenValue,
  VSCHAR,
} from './arbitraries.js'
import { expectAuthError, expectNothingRevealed, expectTokenSetShape, RUNS } from './helpers.js'

const { mock } = useMockEnvironment({ accessTokenLifetime: 3_600_000 })

const OPTIONS: TokenClientOptions = {
  clientId: CLIENT_ID,
  tokenEndpoint: mock.endpoints.token,
  apiOrigins: [API_ORIGIN],
  crossTab: false,
}

const clients: TokenClient[] = []
function createClient(options: Partial<TokenClientOptions> = {}): TokenClient {
  const auth = createTokenClient({ ...OPTIONS, ...options })
  clients.push(auth)
  return auth
}
/** Disposes the clients of one property run (or of a test that failed halfway). */
function disposeClients(): void {
  for (const auth of clients.splice(0)) auth.dispose()
  localStorage.clear()
  sessionStorage.clear()
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 })
})
afterEach(() => {
  disposeClients()
  vi.useRealTimers()
})

const MEMBERS = ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope', 'id_token']

/** A response input and the token values in it that must never show up in an error. */
interface Case {
  readonly input: unknown
  readonly secrets: readonly string[]
}

/** A plausible token response, then edited: members removed, retyped, or prototype-ish keys added. */
const editedResponse: fc.Arbitrary<Case> = fc
  .record({
    access: fc.oneof(tokenValue, jwtToken),
    tokenType: fc.constantFrom('Bearer', 'bearer', 'BEARER', 'bEaReR'),
    expiresIn: fc.option(fc.oneof(fc.nat(), fc.nat().map(String), anyNumber, anyString), {
      nil: undefined,
    }),
    refresh: fc.option(tokenValue, { nil: undefined }),
    scope: fc.option(fc.oneof(scopeValue, anyString), { nil: undefined }),
    id: fc.option(fc.oneof(jwtToken, tokenValue), { nil: undefined }),
    changes: edits(MEMBERS),
    prototype: prototypeOf,
  })
  .map(({ access, tokenType, expiresIn, refresh, scope, id, changes, prototype }) => ({
    input: buildObject(
      {
        access_token: access.value,
        token_type: tokenType,
        expires_in: expiresIn,
        refresh_token: refresh?.value,
        scope,
        id_token: id?.value,
      },
      changes,
      prototype,
    ),
    secrets: [access, refresh, id].flatMap((secret) => (secret ? [secret.core] : [])),
  }))

/** `value` as JSON text; junk that JSON cannot hold (a BigInt) as the empty string. */
function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? ''
  } catch {
    return ''
  }
}

/** Any input at all: mostly near-misses of a token response, also strings, numbers and junk. */
const anyInput: fc.Arbitrary<Case> = fc.oneof(
  { weight: 8, arbitrary: editedResponse },
  { weight: 1, arbitrary: anyString.map((input) => ({ input, secrets: [] })) },
  { weight: 1, arbitrary: anyNumber.map((input) => ({ input, secrets: [] })) },
  { weight: 1, arbitrary: junk.map((input) => ({ input, secrets: [] })) },
  {
    weight: 1,
    arbitrary: fc.array(editedResponse, { maxLength: 2 }).map((cases) => ({
      input: cases.map((one) => one.input),
      secrets: cases.flatMap((one) => one.secrets),
    })),
  },
  {
    // The response as JSON text instead of the parsed object.
    weight: 1,
    arbitrary: editedResponse.map((one) => ({ input: jsonText(one.input), secrets: one.secrets })),
  },
)

/** A response every version of the SDK must accept: VSCHAR tokens, Bearer, a sane lifetime. */
const wellFormedResponse: fc.Arbitrary<TokenResponse> = fc
  .record({
    access_token: fc.tuple(secretCore, fc.string({ unit: VSCHAR })).map((parts) => parts.join('')),
    token_type: fc.constantFrom('Bearer', 'bearer', 'BEARER'),
    expires_in: fc.oneof(fc.integer({ min: 0, max: 31_536_000 }), fc.nat(86_400).map(String)),
    refresh_token: fc.tuple(secretCore, fc.string({ unit: VSCHAR })).map((parts) => parts.join('')),
    scope: scopeValue,
    id_token: jwtToken.map((token) => token.value),
  })
  .chain((full) =>
    fc.subarray(['expires_in', 'refresh_token', 'scope', 'id_token'] as const).map((dropped) => {
      const response: TokenResponse = { ...full }
      for (const key of dropped) delete response[key]
      return response
    }),
  )

/** The `exp − iat` lifetime (ms) of a JWT, read independently of the SDK's decoder. */
function jwtLifetime(token: string): number | undefined {
  try {
    const claims: unknown = JSON.parse(
      Buffer.from(token.split('.')[1] ?? '', 'base64url').toString(),
    )
    const { exp, iat } = claims as { exp?: unknown; iat?: unknown }
    if (typeof exp === 'number' && typeof iat === 'number' && exp >= iat) return (exp - iat) * 1000
  } catch {}
  return undefined
}

/**
 * The token set an accepted response describes (RFC 6749 §5.1), received at `now`, after checking
 * what any version must require of it: a non-empty access token, `token_type` Bearer in any case,
 * and an `expires_in` that is absent, a non-negative number or a string of digits.
 */
function expectedTokenSet(input: Record<string, unknown>, now: number): TokenSet {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined)
  const accessToken = input.access_token as string
  expect(accessToken).toBeTypeOf('string')
  expect(accessToken).not.toBe('')
  expect(text(input.token_type)?.toLowerCase()).toBe('bearer')
  const expiresIn = input.expires_in
  if (typeof expiresIn === 'string') expect(expiresIn).toMatch(/^[0-9]+$/)
  else if (expiresIn !== undefined && expiresIn !== null) {
    expect(expiresIn).toBeTypeOf('number')
    expect(expiresIn).toBeGreaterThanOrEqual(0)
  }
  const counted =
    expiresIn === undefined || expiresIn === null
      ? jwtLifetime(accessToken)
      : Number(expiresIn) * 1000
  // A lifetime too long to count in milliseconds is no known lifetime.
  const lifetime = counted !== undefined && counted < Number.POSITIVE_INFINITY ? counted : undefined
  const fields = {
    accessToken,
    tokenType: 'Bearer',
    refreshToken: text(input.refresh_token),
    expiresAt: lifetime === undefined ? undefined : now + lifetime,
    scope: text(input.scope),
    idToken: text(input.id_token),
  }
  return Object.fromEntries(
    Object.entries(fields).filter(([, value]) => value !== undefined),
  ) as unknown as TokenSet
}

/** setTokens, returning the token set or the error thrown. */
function attempt(auth: TokenClient, input: unknown): { tokens: TokenSet } | { error: unknown } {
  try {
    return { tokens: auth.setTokens(input as TokenResponse) }
  } catch (error) {
    return { error }
  }
}

function expectInvalidTokenResponse(error: unknown): asserts error is InvalidTokenResponseError {
  expectAuthError(error, ['invalid_token_response'])
  expect(error).toBeInstanceOf(InvalidTokenResponseError)
}

describe('setTokens with any input', () => {
  it('returns the token set the response describes, or throws InvalidTokenResponseError', () => {
    fc.assert(
      fc.property(anyInput, ({ input, secrets }) => {
        const auth = createClient()
        const result = attempt(auth, input)
        if ('error' in result) {
          expectInvalidTokenResponse(result.error)
          expectNothingRevealed([result.error], secrets)
          expect(auth.tokens).toBeNull()
        } else {
          expectTokenSetShape(result.tokens)
          expect(result.tokens).toStrictEqual(
            expectedTokenSet(input as Record<string, unknown>, Date.now()),
          )
          expect(auth.tokens).toStrictEqual(result.tokens)
        }
      }),
      { numRuns: RUNS.pure, plugins: [fc.afterEach(disposeClients)] },
    )
  })

  it('leaves a working session, its stored copy and its access token untouched when it throws', async () => {
    await fc.assert(
      fc.asyncProperty(
        anyInput,
        fc.constantFrom('memory', 'local', 'session') as fc.Arbitrary<
          'memory' | 'local' | 'session'
        >,
        async ({ input }, storage) => {
          const auth = createClient({ storage })
          const working = auth.setTokens(mock.issueTokens())
          const stored = [
            localStorage.getItem('freshtoken:spa'),
            sessionStorage.getItem('freshtoken:spa'),
          ]
          const result = attempt(auth, input)
          if ('error' in result) {
            expectInvalidTokenResponse(result.error)
            expect(auth.tokens).toStrictEqual(working)
            expect([
              localStorage.getItem('freshtoken:spa'),
              sessionStorage.getItem('freshtoken:spa'),
            ]).toEqual(stored)
            await expect(auth.getAccessToken()).resolves.toBe(working.accessToken)
          } else {
            expect(auth.tokens).toStrictEqual(result.tokens)
          }
        },
      ),
      { numRuns: RUNS.client, plugins: [fc.afterEach(disposeClients)] },
    )
  })

  it('is restored unchanged by the next client from local, session or custom storage', () => {
    fc.assert(
      fc.property(anyInput, fc.constantFrom('local', 'session', 'custom'), ({ input }, kind) => {
        const data = new Map<string, string>()
        const storage =
          kind === 'custom'
            ? {
                get: (key: string) => data.get(key),
                set: (key: string, value: string) => void data.set(key, value),
                remove: (key: string) => void data.delete(key),
              }
            : kind
        const result = attempt(createClient({ storage }), input)
        if ('error' in result) return
        // Known bug, reported: a lifetime that overflows to Infinity is stored as null and the
        // stored session is then discarded (see the `fails` test below). Leave that case to it.
        expect(createClient({ storage }).tokens).toStrictEqual(result.tokens)
      }),
      { numRuns: RUNS.client, plugins: [fc.afterEach(disposeClients)] },
    )
  })

  it('accepts every well-formed response, in any letter case of Bearer', () => {
    fc.assert(
      fc.property(wellFormedResponse, (response) => {
        const tokens = createClient().setTokens(response)
        expect(tokens).toStrictEqual(expectedTokenSet(response, Date.now()))
      }),
      { numRuns: RUNS.pure, plugins: [fc.afterEach(disposeClients)] },
    )
  })
})

describe('a session started from any accepted response', () => {
  it('calls the API: auth.fetch resolves with a Response or rejects with an AuthError', async () => {
    await fc.assert(
      fc.asyncProperty(editedResponse, async ({ input }) => {
        const auth = createClient()
        const result = attempt(auth, input)
        if ('error' in result) return
        try {
          const response = await auth.fetch(`${API_ORIGIN}/me`)
          expect(response).toBeInstanceOf(Response)
        } catch (error) {
          expectAuthError(error)
        }
      }),
      { numRuns: RUNS.network, plugins: [fc.afterEach(disposeClients)] },
    )
  })
})

/** A bug these properties found, with the counterexample fast-check shrank to. */
describe('a lifetime too long to count in milliseconds', () => {
  it('is taken as no known lifetime, and the session survives a reload', () => {
    const response = { access_token: 'at', token_type: 'Bearer', expires_in: 1e306 }
    const result = attempt(createClient({ storage: 'local' }), response)
    if ('error' in result) throw result.error
    // It was Infinity, stored as null, and the next client discarded the session.
    expect(result.tokens.expiresAt).toBeUndefined()
    expect(createClient({ storage: 'local' }).tokens).toStrictEqual(result.tokens)
  })
})
