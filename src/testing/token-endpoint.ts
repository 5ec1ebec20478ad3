import { type HttpHandler, HttpResponse, http } from 'msw'
import { exchangeCode } from './code-exchange.js'
import { answerWithFaults, type MockContext } from './context.js'
import { preflightResponse, withCors } from './cors.js'
import { readResourceParameters } from './resources.js'
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
    // RFC 8707 §2: resource may be repeated; the token endpoint decides what it makes of that.
    if (seen.has(name) && name !== 'resource')
      return reject(deny('invalid_request', `"${name}" must not be repeated`))
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
  /** Thumbprint of the request's valid DPoP proof, `null` without one. */
  readonly jkt?: string | null
}

type ProofVerdict =
  | { readonly ok: true; readonly jkt: string | null }
  | { readonly ok: false; readonly answer: ServerAnswer }

/**
 * The DPoP proof of a token or revocation request (RFC 9449 §5): `jkt: null` when the mock does
 * not support DPoP (the header is ignored, §5) or the request has none; a 400 `invalid_dpop_proof`
 * or `use_dpop_nonce` (§8) answer for a proof that fails, or for none where one is `required`.
 */
async function checkTokenProof(
  context: MockContext,
  request: Request,
  required: boolean,
): Promise<ProofVerdict> {
  const { dpop } = context
  if (dpop === null) return { ok: true, jkt: null }
  const check = await dpop.check(request, 'authorization-server', null)
  if (check.kind === 'valid') return { ok: true, jkt: check.jkt }
  if (check.kind === 'refused') {
    return { ok: false, answer: deny(check.error, check.description) }
  }
  if (required && context.options.dpop?.required) {
    context.recorder.counters.dpopInvalid += 1
    return { ok: false, answer: deny('invalid_dpop_proof', 'A DPoP proof is required') }
  }
  return { ok: true, jkt: null }
}

/** The one `resource` of a token request (RFC 8707 §2), `null` for none, or the error to answer. */
function readTokenResource(
  context: MockContext,
  form: URLSearchParams,
):
  | { readonly ok: true; readonly resource: string | null }
  | { readonly ok: false; readonly answer: ServerAnswer } {
  const request = readResourceParameters(form.getAll('resource'), context.options.resources)
  if (!request.ok) return { ok: false, answer: deny(request.error, request.description) }
  const [resource = null, ...others] = request.resources
  // RFC 8707 §2.2 lets a server refuse a combination of resources it cannot issue one token for.
  if (others.length > 0) {
    const description = 'The server issues an access token for one resource at a time'
    return { ok: false, answer: deny('invalid_target', description) }
  }
  return { ok: true, resource }
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
  if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
    return failure(deny('unsupported_grant_type', `"${grantType}" is not supported`))
  }
  const proof = await checkTokenProof(context, request, true)
  if (!proof.ok) return failure(proof.answer)
  const { jkt } = proof
  const target = readTokenResource(context, form)
  if (!target.ok) return { ...failure(target.answer), jkt }
  const { resource } = target
  if (grantType === 'authorization_code') {
    const outcome = await exchangeCode(context, form, { jkt, resource })
    if (!outcome.ok) {
      const answer = deny(outcome.error, outcome.description)
      return { ...answer, reuseDetected: outcome.reuseDetected, codeFamily: outcome.family, jkt }
    }
    const response = noStoreJSON(outcome.body)
    return { response, error: null, reuseDetected: false, codeFamily: outcome.family, jkt }
  }
  if (refreshToken === null || refreshToken === '') {
    return { ...failure(deny('invalid_request', '"refresh_token" is required')), jkt }
  }
  const outcome = context.store.refresh({
    refreshToken,
    clientId: context.options.clientId,
    scope: form.get('scope'),
    jkt,
    resource,
  })
  if (!outcome.ok) {
    const answer = deny(outcome.error, outcome.description)
    return { ...answer, reuseDetected: outcome.reuseDetected, codeFamily: null, jkt }
  }
  return {
    response: noStoreJSON(outcome.body),
    error: null,
    reuseDetected: false,
    codeFamily: null,
    jkt,
  }
}

/**
 * Sets the authorization server's current DPoP nonce on an answer the server itself gave (not a
 * fault's), when it demands nonces: RFC 9449 §8.2 lets a server provide a fresh one on any answer.
 */
function withServerNonce(context: MockContext, response: Response, served: boolean): Response {
  const nonce = served ? context.dpop?.nonce('authorization-server') : null
  if (nonce != null && response.type !== 'error') response.headers.set('DPoP-Nonce', nonce)
  return response
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
    const resources = form?.getAll('resource') ?? []
    for (const resource of resources) {
      recorder.counters.tokenByResource[resource] =
        (recorder.counters.tokenByResource[resource] ?? 0) + 1
    }
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
      ...(resources[0] === undefined ? {} : { resource: resources[0] }),
      ...(answer.outcome?.jkt ? { dpopJkt: answer.outcome.jkt } : {}),
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
    withServerNonce(context, answer.response, served)
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
      // A proof is verified when sent, never required: the token itself authorizes revoking it.
      const proof = await checkTokenProof(context, request, false)
      if (!proof.ok) return { ...proof.answer, type: null }
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
    withServerNonce(context, answer.response, answer.fault === null || answer.fault === 'latency')
    return withCors(answer.response, request, cors)
  })
}
