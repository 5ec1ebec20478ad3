/**
 * `WWW-Authenticate` on a 401 from the API (RFC 6750 §3, RFC 9110 §11.6.1). The parser is checked
 * against a reference model on well-formed headers built from the grammar (several challenges,
 * quoted strings with commas and escapes, token68, optional whitespace, empty list elements), and
 * against anything at all for crashes. Through `auth.fetch`: a 401 always ends in a Response (or
 * a typed error from a failed renewal), and an `insufficient_scope` Bearer challenge never renews.
 */

import fc from 'fast-check'
import { createTokenClient, type TokenClient } from 'freshtoken'
import { HttpResponse } from 'msw'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { readBearerError } from '../../src/www-authenticate.js'
import { API_ORIGIN, CLIENT_ID, useMockEnvironment } from '../mocks/setup.js'
import { T0 } from '../mocks/time.js'
import { expectAuthError, RUNS, serveWithCors } from './helpers.js'

/** RFC 9110 §5.6.2 tchar. */
const TCHAR = [..."!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"]
/** RFC 9110 §11.2 token68 characters (without the trailing `=`). */
const TOKEN68_CHAR = [...'-._~+/0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz']
/** What a quoted-string may hold: tab, space, visible ASCII, obs-text (RFC 9110 §5.6.4). */
const QDTEXT_OR_PAIR = fc
  .oneof(
    fc.constantFrom('\t', ' ', '"', '\\', ','),
    fc.integer({ min: 0x21, max: 0x7e }),
    fc.integer({ min: 0x80, max: 0xff }),
  )
  .map((unit) => (typeof unit === 'number' ? String.fromCharCode(unit) : unit))
/** RFC 6750 §3 error values: NQSCHAR, so no quote or backslash. */
const NQSCHAR = fc
  .integer({ min: 0x20, max: 0x7e })
  .filter((code) => code !== 0x22 && code !== 0x5c)
  .map((code) => String.fromCharCode(code))

const token = fc.string({ unit: fc.constantFrom(...TCHAR), minLength: 1, maxLength: 12 })

/** Every way to write `error`, `Bearer` and friends. */
function anyCase(word: string): fc.Arbitrary<string> {
  return fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => [...word].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''))
}

interface Param {
  readonly name: string
  readonly value: string
  readonly quoted: boolean
  /** Whitespace around `=` (RFC 9110 BWS). */
  readonly space: string
}

type Challenge =
  | { readonly scheme: string; readonly params: readonly Param[] }
  | { readonly scheme: string; readonly token68: string }

const errorValue = fc.oneof(
  fc.constantFrom('invalid_token', 'insufficient_scope', 'invalid_request', 'use_dpop_nonce'),
  fc.string({ unit: NQSCHAR, maxLength: 20 }),
)

const param: fc.Arbitrary<Param> = fc
  .record({
    name: fc.oneof(
      { weight: 3, arbitrary: anyCase('error') },
      fc.constantFrom('realm', 'error_description', 'error_uri', 'scope', 'resource_metadata'),
      token,
    ),
    quoted: fc.boolean(),
    space: fc.constantFrom('', ' ', '\t', ' \t '),
    anyValue: fc.string({ unit: QDTEXT_OR_PAIR, maxLength: 30 }),
    errorValue,
    tokenValue: token,
  })
  .map(({ name, quoted, space, anyValue, errorValue, tokenValue }) => {
    const isError = name.toLowerCase() === 'error'
    if (!quoted) return { name, quoted, space, value: isError ? tokenValue : tokenValue }
    return { name, quoted, space, value: isError ? errorValue : anyValue }
  })

/** `error` params whose value is insufficient_scope, to make that case common. */
const insufficientScope: fc.Arbitrary<Param> = fc.record({
  name: anyCase('error'),
  value: fc.constant('insufficient_scope'),
  quoted: fc.boolean(),
  space: fc.constantFrom('', ' '),
})

const challenge: fc.Arbitrary<Challenge> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      scheme: fc.oneof(
        { weight: 3, arbitrary: anyCase('bearer') },
        fc.constantFrom('Basic', 'DPoP', 'Digest', 'Newauth'),
        token,
      ),
      params: fc.array(fc.oneof({ weight: 3, arbitrary: param }, insufficientScope), {
        maxLength: 4,
      }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      scheme: fc.constantFrom('Basic', 'Negotiate', 'DPoP', 'Newauth'),
      token68: fc
        .tuple(
          fc.string({ unit: fc.constantFrom(...TOKEN68_CHAR), minLength: 1, maxLength: 16 }),
          fc.constantFrom('', '=', '=='),
        )
        .map((parts) => parts.join('')),
    }),
  },
)

/** List separators with optional whitespace and, now and then, empty list elements. */
const separator = fc.constantFrom(', ', ',', ' , ', ',\t', ', , ', ',,')

function serializeParam({ name, value, quoted, space }: Param): string {
  const written = quoted ? `"${value.replace(/["\\]/g, '\\$&')}"` : value
  return `${name}${space}=${space}${written}`
}

/** A well-formed header and what a correct parser reads from it. */
interface Header {
  readonly value: string
  readonly expected: string | undefined
  readonly hasToken68: boolean
}

const wellFormedHeader: fc.Arbitrary<Header> = fc
  .array(fc.tuple(challenge, separator, separator), { minLength: 1, maxLength: 4 })
  .map((challenges) => {
    const value = challenges
      .map(([c, between]) => {
        if ('token68' in c) return `${c.scheme} ${c.token68}`
        const params = c.params.map(serializeParam).join(between)
        return params === '' ? c.scheme : `${c.scheme} ${params}`
      })
      .join(challenges[0]?.[2] ?? ', ')
    return {
      value,
      expected: referenceBearerError(challenges.map(([c]) => c)),
      hasToken68: challenges.some(([c]) => 'token68' in c),
    }
  })

/** The model: the first `error` param of a Bearer challenge, names compared case-insensitively. */
function referenceBearerError(challenges: readonly Challenge[]): string | undefined {
  for (const c of challenges) {
    if (c.scheme.toLowerCase() !== 'bearer' || !('params' in c)) continue
    const error = c.params.find((p) => p.name.toLowerCase() === 'error')
    if (error !== undefined) return error.value
  }
  return undefined
}

/** Characters a header can carry through fetch: tab, visible ASCII, space and obs-text. */
const headerChar = fc
  .oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    fc.constant(0x09),
    fc.integer({ min: 0x80, max: 0xff }),
  )
  .map((code) => String.fromCharCode(code))

/** Junk: random header text, and well-formed headers cut or spliced with random text. */
const junkHeader: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: headerChar, maxLength: 60 }),
  fc
    .tuple(wellFormedHeader, fc.nat(), fc.string({ unit: headerChar, maxLength: 10 }))
    .map(([header, at, text]) => {
      const cut = at % (header.value.length + 1)
      return `${header.value.slice(0, cut)}${text}${header.value.slice(cut)}`
    }),
  fc.constantFrom(
    'Bearer error="insufficient_scope',
    'Bearer error=',
    'Bearer ="x"',
    'Bearer error="\\',
    '=, =, =',
    '""""',
    'Bearer error=insufficient_scope;q=1',
  ),
)

describe('readBearerError', () => {
  it('reads the error of the Bearer challenge exactly as the reference model does', () => {
    fc.assert(
      fc.property(wellFormedHeader, ({ value, expected, hasToken68 }) => {
        const read = readBearerError(value)
        // A token68 holds no auth-params, so it can never hold an insufficient_scope...
        expect(read === 'insufficient_scope').toBe(expected === 'insufficient_scope')
        // ...but the parser reads its characters as tokens, so compare values without one.
        if (!hasToken68) expect(read).toBe(expected)
      }),
      { numRuns: RUNS.pure },
    )
  })

  it('gives the same answer when unrelated challenges come before or after the Bearer one', () => {
    const other = fc.constantFrom('Basic realm="api"', 'DPoP algs="ES256"', 'Negotiate', 'Basic')
    fc.assert(
      fc.property(wellFormedHeader, other, other, (header, before, after) => {
        expect(readBearerError(`${before}, ${header.value}`)).toBe(readBearerError(header.value))
        // A trailing challenge ends the Bearer one: its params are not the Bearer's.
        expect(readBearerError(`${header.value}, ${after}`)).toBe(readBearerError(header.value))
      }),
      { numRuns: RUNS.pure },
    )
  })

  it('never throws, and returns nothing or text taken from the header', () => {
    fc.assert(
      fc.property(
        fc.oneof(junkHeader, fc.string({ unit: 'binary' }), fc.string()),
        (header: string) => {
          const read = readBearerError(header)
          if (read !== undefined) {
            expect(read).toBeTypeOf('string')
            expect(header).toContain(read)
          }
        },
      ),
      { numRuns: RUNS.pure },
    )
  })
})

describe('a 401 with any WWW-Authenticate header, through auth.fetch', () => {
  const { mock, server } = useMockEnvironment({ accessTokenLifetime: 3_600_000 })
  let auth: TokenClient | undefined

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 })
  })
  afterEach(() => {
    auth?.dispose()
    vi.useRealTimers()
  })

  /**
   * Serves `/challenge` on the API: the session's first access token gets a 401 with `header`
   * (exposed to the page by CORS), any other token a 200.
   */
  function challengeWith(header: string, rejected: string): void {
    serveWithCors(server, `${API_ORIGIN}/challenge`, (request) => {
      if (request.headers.get('Authorization') !== `Bearer ${rejected}`) {
        return HttpResponse.json({ ok: true })
      }
      return HttpResponse.json(
        { error: 'rejected' },
        { status: 401, headers: { 'WWW-Authenticate': header } },
      )
    })
  }

  async function callWith(
    header: string,
  ): Promise<{ result: Response | unknown; renewals: number }> {
    const client = createTokenClient({
      clientId: CLIENT_ID,
      tokenEndpoint: mock.endpoints.token,
      apiOrigins: [API_ORIGIN],
      crossTab: false,
    })
    auth = client
    try {
      const session = client.setTokens(mock.issueTokens())
      challengeWith(header, session.accessToken)
      const result = await client.fetch(`${API_ORIGIN}/challenge`).catch((error: unknown) => error)
      return { result, renewals: mock.counters.token }
    } finally {
      client.dispose()
      server.resetHandlers()
      mock.reset()
    }
  }

  it('renews exactly when a well-formed header says anything but insufficient_scope', async () => {
    await fc.assert(
      fc.asyncProperty(wellFormedHeader, async ({ value, expected }) => {
        const { result, renewals } = await callWith(value)
        expect(result).toBeInstanceOf(Response)
        if (expected === 'insufficient_scope') {
          expect(renewals).toBe(0)
          expect((result as Response).status).toBe(401)
        } else {
          expect(renewals).toBe(1)
          expect((result as Response).status).toBe(200)
        }
      }),
      { numRuns: RUNS.retries },
    )
  })

  it('resolves with a Response or rejects with an AuthError for any header, renewing at most once', async () => {
    await fc.assert(
      fc.asyncProperty(junkHeader, async (header) => {
        const { result, renewals } = await callWith(header)
        if (!(result instanceof Response)) expectAuthError(result)
        else expect(result.status).toBe(renewals === 0 ? 401 : 200)
        expect(renewals).toBeLessThanOrEqual(1)
      }),
      { numRuns: RUNS.retries },
    )
  })
})
