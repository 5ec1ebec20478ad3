/**
 * A token endpoint that answers a renewal with anything: any status, content type and body
 * (JSON or not, token-shaped, error-shaped, echoing the tokens it was sent). The renewal succeeds
 * or rejects with a typed AuthError; the session survives unless the server said `invalid_grant`;
 * and no token value shows in an error's message, enumerable fields or cause.
 */

import fc from 'fast-check'
import { type AuthError, createTokenClient, type TokenClient, type TokenSet } from 'freshtoken'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { API_ORIGIN, CLIENT_ID, useMockEnvironment } from '../mocks/setup.js'
import { settle, T0 } from '../mocks/time.js'
import {
  anyNumber,
  anyString,
  buildObject,
  edits,
  jwtToken,
  memberValue,
  type Secret,
  scopeValue,
  secretCore,
  tokenValue,
} from './arbitraries.js'
import {
  expectAuthError,
  expectNothingRevealed,
  expectTokenSetShape,
  NULL_BODY_STATUSES,
  RUNS,
  serveWithCors,
} from './helpers.js'

// An hour-long access token: the session's own token stays valid while renewals are tried.
const { mock, server } = useMockEnvironment({ accessTokenLifetime: 3_600_000 })

let auth: TokenClient | undefined
beforeEach(() => {
  vi.useFakeTimers({ now: T0 })
})
afterEach(() => {
  auth?.dispose()
  vi.useRealTimers()
})

/** The forms in which a server may quote a token back in its error text. */
const ENCODINGS = {
  raw: (token: string) => token,
  form: (token: string) => new URLSearchParams({ t: token }).toString().slice(2),
  percent: encodeURIComponent,
  'percent-lower': (token: string) =>
    encodeURIComponent(token).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
  json: (token: string) => JSON.stringify(token).slice(1, -1),
  html: (token: string) =>
    token.replace(
      /[&<>"']/g,
      (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": '#39' }[c]};`,
    ),
} as const
type Encoding = keyof typeof ENCODINGS

/** A stand-in for one of the session's tokens in one form, put in when the answer is sent. */
const marker = (which: 'access' | 'refresh', encoding: Encoding) => `{{${which}:${encoding}}}`
const MARKER = /\{\{(access|refresh):([a-z-]+)\}\}/g

/** Text that may quote the tokens the client sent, as some servers do in their error text. */
const echo = fc
  .array(
    fc.oneof(
      fc.string(),
      fc
        .tuple(
          fc.constantFrom('access' as const, 'refresh' as const),
          fc.constantFrom(...(Object.keys(ENCODINGS) as Encoding[])),
        )
        .map(([which, encoding]) => marker(which, encoding)),
    ),
    { maxLength: 4 },
  )
  .map((parts) => parts.join(''))

/**
 * The session's tokens: visible ASCII around a distinctive core, with the characters that change
 * under form, percent, JSON and HTML encoding.
 */
const sessionToken = (prefix: string): fc.Arbitrary<Secret> => {
  const special = fc.string({
    unit: fc.constantFrom(' ', '+', '/', '%', '&', '<', '>', '"', "'", '\\', '=', '~', '?', '#'),
    maxLength: 3,
  })
  return fc
    .tuple(special, secretCore, special)
    .map(([before, core, after]) => ({ value: `${prefix}${before}${core}${after}x`, core }))
}

/** A body, and the new token values in it that must not leak if it is rejected. */
interface Body {
  readonly text: string
  /** Whether the text is JSON (or JSON cut short), so tokens put in must be JSON-escaped. */
  readonly json: boolean
  readonly secrets: readonly string[]
}

function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? ''
  } catch {
    return ''
  }
}

const successShaped: fc.Arbitrary<Body> = fc
  .record({
    access: fc.oneof(tokenValue, jwtToken),
    refresh: fc.option(tokenValue, { nil: undefined }),
    tokenType: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('Bearer', 'bearer') },
      { weight: 1, arbitrary: fc.oneof(fc.constantFrom('DPoP', 'mac'), anyString) },
    ),
    expiresIn: fc.option(fc.oneof(fc.nat(), fc.nat().map(String), anyNumber), { nil: undefined }),
    scope: fc.option(fc.oneof(scopeValue, anyString), { nil: undefined }),
    changes: fc.oneof(
      fc.constant([]),
      edits(['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope']),
    ),
  })
  .map(({ access, refresh, tokenType, expiresIn, scope, changes }) => ({
    text: jsonText(
      buildObject(
        {
          access_token: access.value,
          token_type: tokenType,
          expires_in: expiresIn,
          refresh_token: refresh?.value,
          scope,
        },
        changes,
      ),
    ),
    json: true,
    secrets: [access.core, ...(refresh ? [refresh.core] : [])],
  }))

const errorShaped: fc.Arbitrary<Body> = fc
  .record({
    error: fc.oneof(
      { weight: 2, arbitrary: fc.constant('invalid_grant') },
      fc.constantFrom(
        'invalid_grant',
        'invalid_client',
        'invalid_request',
        'invalid_scope',
        'unauthorized_client',
        'unsupported_grant_type',
        'server_error',
        'temporarily_unavailable',
        'INVALID_GRANT',
        'invalid_grant ',
      ),
      echo,
      memberValue,
    ),
    description: fc.option(fc.oneof(echo, memberValue), { nil: undefined }),
    changes: fc.oneof(fc.constant([]), edits(['error', 'error_description', 'error_uri'])),
  })
  .map(({ error, description, changes }) => ({
    text: jsonText(buildObject({ error, error_description: description }, changes)),
    json: true,
    secrets: [],
  }))

const otherBody: fc.Arbitrary<Body> = fc.oneof(
  fc.jsonValue().map((value) => ({ text: jsonText(value), json: true, secrets: [] })),
  fc.oneof(anyString, echo).map((text) => ({ text, json: false, secrets: [] })),
  // Cut off mid-way, as a dropped connection or a proxy's size limit leaves it.
  fc.tuple(fc.oneof(successShaped, errorShaped), fc.nat()).map(([body, at]) => ({
    text: body.text.slice(0, at % (body.text.length + 1)),
    json: true,
    secrets: [],
  })),
)

/** Characters a header value may hold: visible ASCII, space, tab and obs-text (RFC 9110 §5.5). */
const headerText = fc.string({
  unit: fc
    .oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }))
    .map((code) => String.fromCharCode(code)),
  maxLength: 30,
})

/** How the token endpoint answers. */
interface Answer {
  readonly status: number
  readonly contentType: string | undefined
  readonly retryAfter: string | undefined
  readonly body: Body
  /** Sent through the mock's own `injectFault({ type: 'body' })` rather than a handler. */
  readonly viaFault: boolean
}

/** Any status a `Response` can have, mostly the ones token endpoints and proxies send. */
const anyStatus = fc.oneof(
  fc.constantFrom(200, 201, 204, 205, 304, 400, 401, 403, 404, 408, 429, 500, 502, 503),
  fc.integer({ min: 200, max: 599 }),
)

/** A body with a status that usually goes with it, sometimes with any status. */
const statusAndBody = fc.oneof(
  fc.record({
    status: fc.oneof({ weight: 3, arbitrary: fc.constant(200) }, anyStatus),
    body: successShaped,
  }),
  fc.record({
    status: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(400, 401) }, anyStatus),
    body: errorShaped,
  }),
  fc.record({ status: anyStatus, body: otherBody }),
)

const anyAnswer: fc.Arbitrary<Answer> = fc
  .record({
    statusAndBody,
    contentType: fc.option(
      fc.oneof(
        fc.constantFrom(
          'application/json',
          'application/json;charset=UTF-8',
          'text/html; charset=utf-8',
          'text/plain',
          'application/problem+json',
          'application/x-www-form-urlencoded',
        ),
        headerText,
      ),
      { nil: undefined },
    ),
    retryAfter: fc.option(fc.oneof(fc.constantFrom('0', '1', '3', '120', 'soon'), headerText), {
      freq: 5,
      nil: undefined,
    }),
    viaFault: fc.boolean(),
  })
  .map(({ statusAndBody: { status, body }, ...rest }) => ({ status, body, ...rest }))

/** The session's tokens. */
interface Session {
  readonly access: Secret
  readonly refresh: Secret
}

/** The body as the client receives it, with the session's tokens put in. */
function sent(body: Body, session: Session): string {
  return body.text.replace(MARKER, (_, which: 'access' | 'refresh', encoding: Encoding) => {
    const quoted = ENCODINGS[encoding](session[which].value)
    return body.json ? JSON.stringify(quoted).slice(1, -1) : quoted
  })
}

function answerWith(answer: Answer, text: string): void {
  const { status, contentType, retryAfter } = answer
  if (answer.viaFault) {
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      body = text
    }
    mock.injectFault({ type: 'body', body, status, times: Number.POSITIVE_INFINITY })
    return
  }
  serveWithCors(server, mock.endpoints.token, () => {
    const headers = new Headers({ 'Cache-Control': 'no-store' })
    if (contentType !== undefined) headers.set('Content-Type', contentType)
    if (retryAfter !== undefined) headers.set('Retry-After', retryAfter)
    // Bytes, so that no content type is implied when the answer has none.
    const body = NULL_BODY_STATUSES.has(status) ? null : new TextEncoder().encode(text)
    return new Response(body, { status, headers })
  })
}

/** The body as JSON, or undefined when it is not JSON. */
function parsed(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

it('succeeds or rejects with an AuthError, keeps the session unless the server said invalid_grant, and reveals no token', async () => {
  await fc.assert(
    fc.asyncProperty(
      anyAnswer,
      fc.record({ access: sessionToken('at'), refresh: sessionToken('rt') }),
      async (answer, session) => {
        const client = createTokenClient({
          clientId: CLIENT_ID,
          tokenEndpoint: mock.endpoints.token,
          apiOrigins: [API_ORIGIN],
          crossTab: false,
        })
        auth = client
        const before = client.setTokens({
          access_token: session.access.value,
          refresh_token: session.refresh.value,
          token_type: 'Bearer',
          expires_in: 3_600,
        })
        const events: unknown[] = []
        client.on('error', (error) => events.push(error))
        client.on('expired', (error) => events.push(error))
        const text = sent(answer.body, session)
        answerWith(answer, text)
        try {
          await checkRenewal(client, answer, text, session, before, events)
        } finally {
          client.dispose()
          server.resetHandlers()
          mock.reset()
        }
      },
    ),
    { numRuns: RUNS.network },
  )
})

/** The property's checks for one answer. */
async function checkRenewal(
  client: TokenClient,
  answer: Answer,
  text: string,
  session: Session,
  before: TokenSet,
  events: readonly unknown[],
): Promise<void> {
  const result = await settle(client.refresh())

  const body = parsed(NULL_BODY_STATUSES.has(answer.status) ? '' : text) as
    | Record<string, unknown>
    | undefined
  const error = typeof body === 'object' && body !== null ? body.error : undefined
  if (result.status === 'fulfilled') {
    const tokens: TokenSet = result.value
    expect(answer.status).toBeGreaterThanOrEqual(200)
    expect(answer.status).toBeLessThan(300)
    expectTokenSetShape(tokens)
    expect(tokens.accessToken).toBe(body?.access_token)
    expect(client.tokens).toStrictEqual(tokens)
  } else {
    const reason: unknown = result.reason
    expectAuthError(reason, [
      'session_expired',
      'token_endpoint_error',
      'token_endpoint_unavailable',
      'invalid_token_response',
    ])
    const ended = (reason as AuthError).code === 'session_expired'
    // The session ends only when the server rejected the refresh token (RFC 6749 §5.2).
    if (ended) {
      expect(error).toBe('invalid_grant')
      expect(answer.status >= 200 && answer.status < 300).toBe(false)
      expect(client.tokens).toBeNull()
    } else {
      expect(client.tokens).toStrictEqual(before)
      await expect(client.getAccessToken()).resolves.toBe(before.accessToken)
    }
    // An RFC 6749 §5.2 error response saying invalid_grant always ends it.
    if (error === 'invalid_grant' && [400, 401].includes(answer.status)) expect(ended).toBe(true)
    expectNothingRevealed(
      [reason, ...events],
      [session.access.core, session.refresh.core, ...answer.body.secrets],
    )
  }
}

describe('a token endpoint that sends its headers, then stalls', () => {
  it('fails the renewal as unavailable within the time limit, keeping the session', async () => {
    const client = createTokenClient({
      clientId: CLIENT_ID,
      tokenEndpoint: mock.endpoints.token,
      apiOrigins: [API_ORIGIN],
      crossTab: false,
    })
    auth = client
    const before = client.setTokens(mock.issueTokens())
    serveWithCors(server, mock.endpoints.token, () => {
      const stalled = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"access_token":"'))
        },
      })
      return new Response(stalled, { headers: { 'Content-Type': 'application/json' } })
    })

    // settle() gives up after a minute of fake time.
    const result = await settle(client.refresh())

    expect(result.status).toBe('rejected')
    expectAuthError((result as PromiseRejectedResult).reason, ['token_endpoint_unavailable'])
    expect(client.tokens).toStrictEqual(before)
  })
})
