import { type HttpHandler, HttpResponse, http } from 'msw'
import { answerWithFaults, type MockContext } from './context.js'
import { preflightResponse, withCors } from './cors.js'
import type { ApiLogEntry } from './counters.js'
import { scopeTokens } from './token-store.js'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']
const REALM = 'api'
/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const NULL_BODY_STATUSES = new Set([204, 205, 304])
/** RFC 6749 §3.3 `scope-token`: no space, quote or backslash, so it is safe in a quoted string. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

type Credentials =
  | { readonly kind: 'missing' }
  | { readonly kind: 'malformed'; readonly description: string }
  | { readonly kind: 'bearer'; readonly token: string }

/**
 * Reads the bearer token of a request (RFC 6750 §2.1). The scheme is case-insensitive. A token in
 * the query string (§2.3) is refused: a browser app must never put one there.
 */
function readCredentials(request: Request): Credentials {
  if (new URL(request.url).searchParams.has('access_token')) {
    return { kind: 'malformed', description: 'Access tokens are not accepted in the query string' }
  }
  const header = request.headers.get('Authorization')?.trim()
  if (!header) return { kind: 'missing' }
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  // Other schemes carry no bearer token: answer as if none was sent.
  if (scheme.toLowerCase() !== 'bearer') return { kind: 'missing' }
  const token = space === -1 ? '' : header.slice(space + 1).trim()
  if (!B64TOKEN.test(token)) {
    return { kind: 'malformed', description: 'The Authorization header is not a bearer token' }
  }
  return { kind: 'bearer', token }
}

/**
 * A `WWW-Authenticate: Bearer` challenge (RFC 6750 §3). Descriptions here contain commas on
 * purpose, inside the quoted string, to exercise clients' auth-param parsers.
 */
function challenge(params: Readonly<Record<string, string>> = {}): string {
  const pairs = Object.entries({ realm: REALM, ...params }).map(([k, v]) => `${k}="${v}"`)
  return `Bearer ${pairs.join(', ')}`
}

function bearerError(
  status: number,
  error: string,
  description: string,
  extra: Readonly<Record<string, string>> = {},
): Response {
  return HttpResponse.json(
    { error, error_description: description },
    {
      status,
      headers: {
        'Cache-Control': 'no-store',
        'WWW-Authenticate': challenge({ error, error_description: description, ...extra }),
      },
    },
  )
}

const INVALID_TOKEN_DESCRIPTIONS = {
  expired: 'The access token expired',
  revoked: 'The access token was revoked',
  unknown: 'The access token is unknown, malformed, or from another server',
} as const

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return ''
  }
}

interface ApiOutcome {
  readonly response: Response
  readonly token: ApiLogEntry['token']
  readonly family: string | null
}

async function serve(context: MockContext, request: Request, path: string): Promise<ApiOutcome> {
  const credentials = readCredentials(request)
  if (credentials.kind === 'missing') {
    // RFC 6750 §3.1: a request without authentication gets a challenge without an error code.
    const response = HttpResponse.json(
      { message: 'An access token is required' },
      { status: 401, headers: { 'Cache-Control': 'no-store', 'WWW-Authenticate': challenge() } },
    )
    return { response, token: 'missing', family: null }
  }
  if (credentials.kind === 'malformed') {
    const response = bearerError(400, 'invalid_request', credentials.description)
    return { response, token: 'malformed', family: null }
  }
  const check = context.store.checkAccess(credentials.token)
  if (check.state !== 'active') {
    const response = bearerError(401, 'invalid_token', INVALID_TOKEN_DESCRIPTIONS[check.state])
    return { response, token: check.state, family: check.family }
  }
  const ok = (response: Response): ApiOutcome => ({
    response,
    token: 'active',
    family: check.family,
  })
  const json = (body: Record<string, unknown>, status = 200) =>
    ok(HttpResponse.json(body, { status, headers: { 'Cache-Control': 'no-store' } }))

  const segments = path.split('/')
  const [, route = '', argument = ''] = segments.length === 3 ? segments : []
  if (path === '/me') {
    return json({ sub: check.subject, scope: check.scope, client_id: check.clientId })
  }
  if (path === '/echo') {
    const url = new URL(request.url)
    return json({
      method: request.method,
      path,
      query: url.search,
      contentType: request.headers.get('Content-Type'),
      body: await request.text(),
    })
  }
  const required = route === 'scoped' ? decodeSegment(argument) : ''
  if (SCOPE_TOKEN.test(required)) {
    if (!scopeTokens(check.scope).includes(required)) {
      const status = context.options.insufficientScopeStatus
      const description = `The access token lacks the ${required} scope`
      return ok(bearerError(status, 'insufficient_scope', description, { scope: required }))
    }
    return json({ scope: required, granted: true })
  }
  if (route === 'status' && /^[2-5]\d\d$/.test(argument)) {
    const status = Number(argument)
    if (NULL_BODY_STATUSES.has(status)) return ok(new HttpResponse(null, { status }))
    return json({ status }, status)
  }
  return json({ error: 'not_found', path }, 404)
}

/**
 * The protected resource at `apiOrigin`, validating bearer tokens like a real resource server
 * (RFC 6750): `401` with `WWW-Authenticate: Bearer error="invalid_token"` for an unknown, expired
 * or revoked token, a bare `Bearer realm="api"` challenge when none was sent, `400
 * invalid_request` for a malformed header or a token in the query string, and `insufficient_scope`
 * where a scope is demanded. Routes:
 *
 * - `/me` — `{ sub, scope, client_id }` of the token.
 * - `/echo` — `{ method, path, query, contentType, body }` of the request (body as text).
 * - `/scoped/:scope` — demands `:scope`; `403` (or `401`, see `insufficientScopeStatus`).
 * - `/status/:code` — answers that status (200–599), to test how API errors pass through.
 * - anything else — `404`.
 *
 * With CORS and the `api` fault queue.
 *
 * @param context - the mock's shared state
 * @returns the msw handler
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 */
export function apiHandler(context: MockContext): HttpHandler {
  const { cors, recorder } = context
  const base = context.options.endpoints.api
  const pathOf = (request: Request): string | null => {
    const url = new URL(request.url)
    const location = `${url.origin}${url.pathname}`
    if (location === base) return '/'
    return location.startsWith(`${base}/`) ? location.slice(base.length) : null
  }
  return http.all(
    ({ request }) => pathOf(request) !== null,
    async ({ request }) => {
      if (request.method === 'OPTIONS') {
        recorder.counters.preflight += 1
        return preflightResponse(request, cors, METHODS)
      }
      recorder.counters.api += 1
      const at = Date.now()
      const path = pathOf(request) ?? '/'
      const answer = await answerWithFaults(context, 'api', () => serve(context, request, path))
      const { status } = answer.response
      if (status === 401) recorder.counters.api401 += 1
      if (status === 403) recorder.counters.api403 += 1
      recorder.log.api.push({
        at,
        method: request.method,
        path,
        status,
        token: answer.outcome?.token ?? null,
        family: answer.outcome?.family ?? null,
        fault: answer.fault,
      })
      return withCors(answer.response, request, cors)
    },
  )
}
