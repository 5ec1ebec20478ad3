import { type HttpHandler, HttpResponse, http } from 'msw'
import { answerWithFaults, type MockContext } from './context.js'
import { preflightResponse, withCors } from './cors.js'
import type { ResolvedMockOptions } from './options.js'
import { scopeTokens } from './token-store.js'

/**
 * The authorization server metadata the mock publishes, before the `metadata` option is merged
 * over it. `issuer` is the configured issuer verbatim, as RFC 8414 §3.3 requires. Both documents
 * list the authorization and end-session endpoints, PKCE `S256` and, with `issParameter`,
 * `authorization_response_iss_parameter_supported` (RFC 9207 §3), and with `dpop`,
 * `dpop_signing_alg_values_supported` (RFC 9449 §5.1).
 *
 * @param options - resolved mock options
 * @param openid - include the members OpenID Connect Discovery 1.0 §3 makes REQUIRED
 * @returns the metadata document
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-2
 */
export function authorizationServerMetadata(
  options: ResolvedMockOptions,
  openid: boolean,
): Record<string, unknown> {
  const { endpoints } = options
  const base = endpoints.token.slice(0, -'/oauth/token'.length)
  return {
    issuer: options.issuer,
    authorization_endpoint: endpoints.authorization,
    token_endpoint: endpoints.token,
    revocation_endpoint: endpoints.revocation,
    end_session_endpoint: endpoints.endSession,
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    code_challenge_methods_supported: ['S256'],
    // RFC 9207 §3: omitted means false, as from a server that predates RFC 9207.
    ...(options.issParameter ? { authorization_response_iss_parameter_supported: true } : {}),
    scopes_supported: scopeTokens(options.scope),
    // RFC 9449 §5.1: the algorithms the server accepts in DPoP proofs; absent without DPoP.
    ...(options.dpop === null ? {} : { dpop_signing_alg_values_supported: ['ES256'] }),
    ...(openid
      ? {
          jwks_uri: `${base}/.well-known/jwks.json`,
          subject_types_supported: ['public'],
          // OpenID Discovery §3 makes RS256 mandatory to list; the mock's ID tokens are HS256.
          id_token_signing_alg_values_supported: ['RS256', 'HS256'],
        }
      : {}),
    ...options.metadata,
  }
}

function metadataHandler(context: MockContext, url: string, openid: boolean): HttpHandler {
  const { cors, options, recorder } = context
  const published = openid
    ? options.discovery === 'both' || options.discovery === 'openid'
    : options.discovery === 'both' || options.discovery === 'oauth'
  return http.all(url, async ({ request }) => {
    if (request.method === 'OPTIONS') {
      recorder.counters.preflight += 1
      return preflightResponse(request, cors, ['GET'])
    }
    recorder.counters.discovery += 1
    const answer = await answerWithFaults(context, 'discovery', async () => {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return {
          response: new HttpResponse(null, {
            status: 405,
            headers: { Allow: 'GET, HEAD, OPTIONS' },
          }),
        }
      }
      if (!published)
        return { response: HttpResponse.json({ error: 'not_found' }, { status: 404 }) }
      return { response: HttpResponse.json(authorizationServerMetadata(options, openid)) }
    })
    return withCors(answer.response, request, cors)
  })
}

/**
 * The two discovery URLs: RFC 8414 metadata, its well-known suffix inserted between the host and
 * the issuer's path (§3.1), and OpenID Connect Discovery, its suffix appended to the issuer. Each
 * answers 404 when the `discovery` option does not publish it. With CORS and the `discovery` fault
 * queue.
 *
 * @param context - the mock's shared state
 * @returns the msw handlers
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 */
export function discoveryHandlers(context: MockContext): HttpHandler[] {
  const { endpoints } = context.options
  return [
    metadataHandler(context, endpoints.oauthMetadata, false),
    metadataHandler(context, endpoints.openidConfiguration, true),
  ]
}
