import { type HttpHandler, HttpResponse, http } from 'msw'
import { exchangeCode } from './code-exchange.js'
import { answerWithFaults, type MockContext } from './context.js'
import { preflightResponse, withCors } from './cors.js'
import { noStoreJSON, oauthErrorResponse } from './responses.js'

interface ServerAnswer {
  readonly response: Response
  /** The OAuth error code answered, `null` on success. */
  readonly error: string | null
}

function deny(error: string, description: string, status?: number): ServerAnswer {
  const headers: Record<string, string> = status === 405 ? { Allow: 'POST, OPTIONS' } : {}
  return { response: oauthErrorResponse(error, description, status, headers), error }
}

/**
 * Reads an `application/x-www-form-urlencoded` body (RFC 6749 §3.2, RFC 7009 §2.1), or returns
 * `null` when the request is not one. The body is read before any fault applies; reading it
 * changes no server state.
 *
 * @param request - the request
 * @returns its form parameters, or `null`
 */
export async function readForm(request: Request): Promise<URLSearchParams | null> {
  const type = request.headers.get('Content-Type')?.split(';')[0]?.trim().toLowerCase()
  if (request.method !== 'POST' || type !== 'application/x-www-form-urlencoded') return null
  return new URLSearchParams(await request.text())
}

type ClientCheck =
  | { readonly ok: true; readonly form: URLSearchParams }
  | { readonly ok: false; readonly answer: ServerAnswer }

/**
 * The checks both endpoints share: POST only, a form body, no repeated parameter (RFC 6749 §3.2),
 * and public client identification by `client_id` (RFC 6749 §2.3.1, §3.2.1).
 */
function checkClientRequest(
  context: MockContext,
  request: Request,
  form: URLSearchParams | null,
  endpoint: string,
): ClientCheck {
  const reject = (answer: ServerAnswer): ClientCheck => ({ ok: false, answer })
  if (request.method !== 'POST') {
    return reject(deny('invalid_request', `The ${endpoint} endpoint accepts only POST`, 405))
  }
  if (form === null) {
    return reject(deny('invalid_request', 'Content-Type must be application/x-www-form-urlencoded'))
  }
  const seen = new Set<string>()
  for (const name of form.keys()) {
    if (seen.has(name)) return reject(deny('invalid_request', `"${name}" must not be repeated`))
    seen.add(name)
  }
  const clientId = form.get('client_id')
  if (clientId === null || clientId === '') {
    return reject(deny('invalid_request', '"client_id" is required for a public client'))
  }
  if (clientId !== context.options.clientId) return reject(deny('invalid_client', 'Unknown client'))
  return { ok: true, form }
}

interface TokenAnswer extends ServerAnswer {
  readonly reuseDetected: boolean
  /** The session issued from an authorization code, or the one revoked for its reuse. */
  readonly codeFamily: string | null
}

async function processTokenRequest(
  context: MockContext,
  request: Request,
  body: URLSearchParams | null,
): Promise<TokenAnswer> {
  const failure = (answer: ServerAnswer) => ({ ...answer, reuseDetected: false, codeFamily: null })
  const check = checkClientRequest(context, request, body, 'token')
  if (!check.ok) return failure(check.answer)
  const { form } = check
  const grantType = form.get('grant_type')
  const refreshToken = form.get('refresh_token')
  if (grantType === null || grantType === '') {
    return failure(deny('invalid_request', '"grant_type" is required'))
  }
  if (grantType === 'authorization_code') {
    const outcome = await exchangeCode(context, form)
    if (!outcome.ok) {
      const answer = deny(outcome.error, outcome.description)
      return { ...answer, reuseDetected: outcome.reuseDetected, codeFamily: outcome.family }
    }
    const response = noStoreJSON(outcome.body)
    return { response, error: null, reuseDetected: false, codeFamily: outcome.family }
  }
  if (grantType !== 'refresh_token') {
    return failure(deny('unsupported_grant_type', `"${grantType}" is not supported`))
  }
  if (refreshToken === null || refreshToken === '') {
    return failure(deny('invalid_request', '"refresh_token" is required'))
  }
  const outcome = context.store.refresh({
    refreshToken,
    clientId: context.options.clientId,
    scope: form.get('scope'),
  })
  if (!outcome.ok) {
    const answer = deny(outcome.error, outcome.description)
    return { ...answer, reuseDetected: outcome.reuseDetected, codeFamily: null }
  }
  return {
    response: noStoreJSON(outcome.body),
    error: null,
    reuseDetected: false,
    codeFamily: null,
  }
}

/**
 * The token endpoint, `${issuer}/oauth/token`, for the one public client: the refresh grant of
 * RFC 6749 §6 with rotation and reuse detection, and the authorization code grant of §4.1.3 with
 * PKCE (see {@link exchangeCode}); §5.1 success and §5.2 error responses, CORS, and the `token`
 * fault queue.
 *
 * @param context - the mock's shared state
 * @returns the msw handler
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1.3
 */
export function tokenEndpointHandler(context: MockContext): HttpHandler {
  const { cors, recorder, store } = context
  return http.all(context.options.endpoints.token, async ({ request }) => {
    if (request.method === 'OPTIONS') {
      recorder.counters.preflight += 1
      return preflightResponse(request, cors, ['POST'])
    }
    recorder.counters.token += 1
    const at = Date.now()
    const form = await readForm(request)
    const presented = form?.get('refresh_token')
    const family = presented ? store.introspect(presented).family : null
    const grantType = form?.get('grant_type') ?? null
    if (grantType === 'authorization_code') recorder.counters.codeExchanges += 1
    const answer = await answerWithFaults(context, 'token', () =>
      processTokenRequest(context, request, form),
    )
    const served = answer.fault === null || answer.fault === 'latency'
    const error = served ? (answer.outcome?.error ?? null) : null
    // Only a refresh token's reuse counts here; a code's reuse is in the code exchange log.
    if (answer.outcome?.reuseDetected && grantType !== 'authorization_code') {
      recorder.counters.reuseDetected += 1
    }
    if (served && answer.outcome !== null) {
      if (answer.outcome.error === null) recorder.counters.tokenSuccess += 1
      else recorder.counters.tokenError += 1
    }
    recorder.log.token.push({
      at,
      method: request.method,
      grantType,
      clientId: form?.get('client_id') ?? null,
      scope: form?.get('scope') ?? null,
      family,
      status: answer.response.status,
      error,
      fault: answer.fault,
    })
    if (grantType === 'authorization_code') {
      recorder.log.codeExchange.push({
        at,
        clientId: form?.get('client_id') ?? null,
        redirectUri: form?.get('redirect_uri') ?? null,
        codeVerifier: Boolean(form?.get('code_verifier')),
        family: answer.outcome?.codeFamily ?? null,
        reuseDetected: answer.outcome?.reuseDetected ?? false,
        status: answer.response.status,
        error,
        fault: answer.fault,
      })
    }
    return withCors(answer.response, request, cors)
  })
}

/**
 * The revocation endpoint, `${issuer}/oauth/revoke` (RFC 7009): revoking a refresh token revokes
 * its whole family, access tokens included (§2.1); an access token is revoked alone; unknown tokens
 * are answered 200 too (§2.2). With CORS and the `revocation` fault queue.
 *
 * @param context - the mock's shared state
 * @returns the msw handler
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2
 */
export function revocationEndpointHandler(context: MockContext): HttpHandler {
  const { cors, recorder, store } = context
  return http.all(context.options.endpoints.revocation, async ({ request }) => {
    if (request.method === 'OPTIONS') {
      recorder.counters.preflight += 1
      return preflightResponse(request, cors, ['POST'])
    }
    recorder.counters.revocation += 1
    const at = Date.now()
    const form = await readForm(request)
    const token = form?.get('token')
    const family = token ? store.introspect(token).family : null
    const answer = await answerWithFaults(context, 'revocation', async () => {
      const check = checkClientRequest(context, request, form, 'revocation')
      if (!check.ok) return { ...check.answer, type: null }
      if (!token) return { ...deny('invalid_request', '"token" is required'), type: null }
      // RFC 7009 §2.2: 200 whether or not the server knew the token; the hint is only a hint.
      const { type } = store.revoke(token)
      const response = new HttpResponse(null, {
        status: 200,
        headers: { 'Cache-Control': 'no-store' },
      })
      return { response, error: null, type }
    })
    recorder.log.revocation.push({
      at,
      clientId: form?.get('client_id') ?? null,
      tokenTypeHint: form?.get('token_type_hint') ?? null,
      tokenType: answer.outcome?.type ?? null,
      family,
      status: answer.response.status,
      fault: answer.fault,
    })
    return withCors(answer.response, request, cors)
  })
}
