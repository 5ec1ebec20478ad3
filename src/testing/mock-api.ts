import { type HttpHandler, HttpResponse, http } from 'msw'
import { answerWithFaults, type MockContext } from './context.js'
import { preflightResponse, withCors } from './cors.js'
import type { ApiLogEntry } from './counters.js'
import type { ResolvedApi } from './options.js'
import { type AccessCheck, scopeTokens } from './token-store.js'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']
const REALM = 'api'
/** RFC 6750 §2.1 `b64token`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const NULL_BODY_STATUSES = new Set([204, 205, 304])
/** RFC 6749 §3.3 `scope-token`: no space, quote or backslash, so it is safe in a quoted string. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/** The authentication schemes the API knows: RFC 6750 bearer tokens, RFC 9449 §7 DPoP. */
type Scheme = 'Bearer' | 'DPoP'

type Credentials =
  | { readonly kind: 'missing' }
  | { readonly kind: 'malformed'; readonly description: string }
  | { readonly kind: 'token'; readonly scheme: Scheme; readonly token: string }

/**
 * Reads the access token of a request (RFC 6750 §2.1, RFC 9449 §7.1): its scheme, `Bearer` or,
 * when DPoP is on, `DPoP`, case-insensitive. A token in the query string (§2.3) is refused: a
 * browser app must never put one there.
 */
function readCredentials(request: Request, dpop: boolean): Credentials {
  if (new URL(request.url).searchParams.has('access_token')) {
    return { kind: 'malformed', description: 'Access tokens are not accepted in the query string' }
  }
  const header = request.headers.get('Authorization')?.trim()
  if (!header) return { kind: 'missing' }
  const space = header.indexOf(' ')
  const scheme = space === -1 ? header : header.slice(0, space)
  const lower = scheme.toLowerCase()
  // Other schemes carry no token the API knows: answer as if none was sent.
  if (lower !== 'bearer' && !(dpop && lower === 'dpop')) return { kind: 'missing' }
  const token = space === -1 ? '' : header.slice(space + 1).trim()
  // RFC 9449 §7.1: the DPoP scheme's token68 has the syntax of RFC 6750's b64token.
  if (!B64TOKEN.test(token)) {
    return { kind: 'malformed', description: 'The Authorization header carries no access token' }
  }
  return { kind: 'token', scheme: lower === 'dpop' ? 'DPoP' : 'Bearer', token }
}

/**
 * A `WWW-Authenticate` challenge (RFC 6750 §3; RFC 9449 §7.1 for `DPoP`, which also names the
 * accepted `algs`). Descriptions here contain commas on purpose, inside the quoted string, to
 * exercise clients' auth-param parsers.
 */
function challenge(scheme: Scheme, params: Readonly<Record<string, string>> = {}): string {
  const algs: Readonly<Record<string, string>> = scheme === 'DPoP' ? { algs: 'ES256' } : {}
  const pairs = Object.entries({ realm: REALM, ...algs, ...params }).map(([k, v]) => `${k}="${v}"`)
  return `${scheme} ${pairs.join(', ')}`
}

function authError(
  scheme: Scheme,
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
        'WWW-Authenticate': challenge(scheme, { error, error_description: description, ...extra }),
      },
    },
  )
}

function bearerError(
  status: number,
  error: string,
  description: string,
  extra: Readonly<Record<string, string>> = {},
): Response {
  return authError('Bearer', status, error, description, extra)
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
  /** Thumbprint of the request's valid DPoP proof, `null` without one. */
  readonly jkt?: string | null
}

type Authentication =
  | { readonly ok: true; readonly check: Extract<AccessCheck, { state: 'active' }> }
  | { readonly ok: false; readonly outcome: ApiOutcome }

/**
 * Checks the DPoP proof of a request made with the DPoP scheme (RFC 9449 §7.1): present, valid
 * for this request and this token (`ath`), with the API's nonce when it demands one (§9).
 */
async function checkApiProof(
  context: MockContext,
  request: Request,
  api: ResolvedApi,
  token: string,
): Promise<{ readonly jkt: string } | { readonly response: Response }> {
  const dpop = context.dpop as NonNullable<MockContext['dpop']>
  const check = await dpop.check(request, { api: api.base }, token)
  if (check.kind === 'valid') return { jkt: check.jkt }
  if (check.kind === 'absent') {
    context.recorder.counters.dpopInvalid += 1
    const description = 'The DPoP scheme needs a DPoP proof'
    return { response: authError('DPoP', 401, 'invalid_dpop_proof', description) }
  }
  return { response: authError('DPoP', 401, check.error, check.description) }
}

/**
 * Authenticates a request (RFC 6750 §3.1, RFC 9449 §7): a known, unexpired, unrevoked access token
 * issued for this API's resource (RFC 8707), presented the way it is bound: a bearer token with
 * `Bearer`, a DPoP-bound one with `DPoP` and a proof of its key.
 */
async function authenticate(
  context: MockContext,
  request: Request,
  api: ResolvedApi,
): Promise<Authentication> {
  const refuse = (response: Response, token: ApiLogEntry['token'], family: string | null) => ({
    ok: false as const,
    outcome: { response, token, family },
  })
  const credentials = readCredentials(request, context.dpop !== null)
  if (credentials.kind === 'missing') {
    // RFC 6750 §3.1: a request without authentication gets a challenge without an error code;
    // RFC 9449 §7.1: a server supporting DPoP offers that scheme too.
    const challenges =
      context.dpop === null ? challenge('Bearer') : `${challenge('Bearer')}, ${challenge('DPoP')}`
    const response = HttpResponse.json(
      { message: 'An access token is required' },
      { status: 401, headers: { 'Cache-Control': 'no-store', 'WWW-Authenticate': challenges } },
    )
    return refuse(response, 'missing', null)
  }
  if (credentials.kind === 'malformed') {
    return refuse(bearerError(400, 'invalid_request', credentials.description), 'malformed', null)
  }
  const { scheme, token } = credentials
  let jkt: string | null = null
  if (scheme === 'DPoP') {
    // The proof first: a proof without the API's nonce is answered use_dpop_nonce (§9) whatever
    // the token's state, as a resource server checks the request before it looks the token up.
    const proof = await checkApiProof(context, request, api, token)
    if ('response' in proof) {
      // Looked up only for the log: the answer does not depend on the token.
      const { state, family } = context.store.checkAccess(token)
      return refuse(proof.response, state, family)
    }
    jkt = proof.jkt
  }
  const check = context.store.checkAccess(token)
  const invalid = (description: string, state: ApiLogEntry['token'] = check.state) => ({
    ok: false as const,
    outcome: {
      response: authError(scheme, 401, 'invalid_token', description),
      token: state,
      family: check.family,
      jkt,
    },
  })
  if (check.state !== 'active') return invalid(INVALID_TOKEN_DESCRIPTIONS[check.state])
  // RFC 8707 §2: a token is for the resource it was requested for, and only for it.
  if (check.resource !== api.resource) {
    return invalid('The access token was issued for another resource (its audience)')
  }
  if (scheme === 'Bearer' && check.jkt !== null) {
    // RFC 9449 §7.2: a DPoP-bound token must not be accepted as a bearer token.
    const description = 'The access token is DPoP-bound; present it with the DPoP scheme'
    return {
      ok: false,
      outcome: {
        response: authError('DPoP', 401, 'invalid_token', description),
        token: 'active',
        family: check.family,
      },
    }
  }
  if (scheme === 'DPoP' && check.jkt === null) {
    return invalid('The access token is not DPoP-bound; present it with the Bearer scheme')
  }
  if (scheme === 'DPoP' && check.jkt !== jkt) {
    return invalid("The access token is bound to another key than the DPoP proof's")
  }
  return { ok: true, check }
}

async function serve(
  context: MockContext,
  request: Request,
  api: ResolvedApi,
  path: string,
): Promise<ApiOutcome> {
  const authentication = await authenticate(context, request, api)
  if (!authentication.ok) return authentication.outcome
  const { check } = authentication
  const ok = (response: Response): ApiOutcome => ({
    response,
    token: 'active',
    family: check.family,
    jkt: check.jkt,
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
 * A protected resource (the one at `apiOrigin`, or one of `apis`), validating bearer tokens like a real resource server
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
 * With CORS and the `api` fault queue (shared by every API).
 *
 * The API accepts only access tokens issued for its `resource` (RFC 8707; without one, only tokens
 * issued without a `resource`), others are `401 invalid_token`. With DPoP (RFC 9449 §7), a
 * DPoP-bound token is accepted only as `Authorization: DPoP <token>` with a valid proof of its key
 * (`ath` included); a proof that fails is `401` with `WWW-Authenticate: DPoP
 * error="invalid_dpop_proof"`, a bound token sent as `Bearer` or a bearer token sent as `DPoP` is
 * `401 invalid_token`, and with `apiNonce` a proof without the API's current nonce is `401
 * use_dpop_nonce` (§9). With `apiNonce` every answer carries the API's `DPoP-Nonce`.
 *
 * @param context - the mock's shared state
 * @param api - which API: its base URL and resource
 * @returns the msw handler
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-7
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function apiHandler(context: MockContext, api: ResolvedApi): HttpHandler {
  const { cors, recorder } = context
  const { base } = api
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
      const answer = await answerWithFaults(context, 'api', () =>
        serve(context, request, api, path),
      )
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
        ...(answer.outcome?.jkt ? { dpopJkt: answer.outcome.jkt } : {}),
      })
      // RFC 9449 §9: the API's nonce on every answer it gave itself (not on a fault's).
      const served = answer.fault === null || answer.fault === 'latency'
      const nonce = served ? context.dpop?.nonce({ api: base }) : null
      if (nonce != null && answer.response.type !== 'error') {
        answer.response.headers.set('DPoP-Nonce', nonce)
      }
      return withCors(answer.response, request, cors)
    },
  )
}
