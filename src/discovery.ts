// Loaded on demand (dynamic import) by apps configured with `issuer`. It imports nothing but the
// public DiscoveryError, so the chunk needs no private exports from the main bundle.
import { DiscoveryError } from './errors.js'
import type { Exchange } from './transport.js'

/** The endpoints of the authorization server, configured or discovered. */
export interface Endpoints {
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string | undefined
  readonly authorizationEndpoint: string | undefined
  readonly endSessionEndpoint: string | undefined
  /**
   * The metadata's `authorization_response_iss_parameter_supported` (RFC 9207 §3): every
   * authorization response then carries `iss`.
   */
  readonly issParameter: boolean
}

/**
 * Builds the RFC 8414 and OpenID Connect Discovery metadata URLs for an issuer, in the order to
 * try them: RFC 8414 inserts the well-known path before the issuer's path, OpenID appends it.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3.1
 */
export function metadataUrls(issuer: string): [string, string] {
  const trimmed = issuer.endsWith('/') ? issuer.slice(0, -1) : issuer
  const url = new URL(trimmed)
  const path = url.pathname === '/' ? '' : url.pathname
  return [
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
    `${trimmed}/.well-known/openid-configuration`,
  ]
}

/**
 * Reads the authorization server's metadata and checks its `issuer` (RFC 8414 §3.3, mix-up
 * protection). Tries RFC 8414 first, then OpenID Connect Discovery.
 *
 * @param issuer - the configured issuer, compared verbatim
 * @param get - reads a URL with the token client's time limit; rejects on a network failure
 * @param parseUrl - validates an endpoint URL (https, or http to loopback)
 * @throws {DiscoveryError} when no metadata document can be read, or it does not match
 * @see https://www.rfc-editor.org/rfc/rfc8414#section-3
 */
export async function discoverEndpoints(
  issuer: string,
  get: (url: string) => Promise<Exchange>,
  parseUrl: (value: unknown, member: string) => URL,
): Promise<Endpoints> {
  let failure = 'could not be read'
  for (const url of metadataUrls(issuer)) {
    let metadata: Record<string, unknown> | null = null
    // Any miss moves on to the next document: servers that publish only OpenID metadata often
    // answer the RFC 8414 URL with a 404 without CORS headers (a network error in a browser) or
    // with an HTML page from a catch-all route.
    try {
      const { response, text } = await get(url)
      try {
        metadata = response.ok ? JSON.parse(text) : null
      } catch {}
      if (typeof metadata !== 'object' || metadata === null) {
        failure = `answered HTTP ${response.status} without a JSON object`
        continue
      }
    } catch (error) {
      failure = `could not be read (${(error as Error).message})`
      continue
    }
    const optionalUrl = (member: string) =>
      metadata[member] === undefined ? undefined : parseUrl(metadata[member], member).href
    try {
      if (metadata.issuer !== issuer)
        throw new Error('"issuer" does not match the configured issuer')
      return {
        tokenEndpoint: parseUrl(metadata.token_endpoint, 'token_endpoint').href,
        revocationEndpoint: optionalUrl('revocation_endpoint'),
        authorizationEndpoint: optionalUrl('authorization_endpoint'),
        endSessionEndpoint: optionalUrl('end_session_endpoint'),
        issParameter: metadata.authorization_response_iss_parameter_supported === true,
      }
    } catch (error) {
      throw new DiscoveryError(`metadata at ${url}: ${(error as Error).message}`)
    }
  }
  throw new DiscoveryError(`no metadata for issuer ${issuer}: the last document ${failure}`)
}
