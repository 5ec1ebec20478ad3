import type { TokenStorage } from './storage.js'

/** The `fetch` signature freshtoken calls. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>

/**
 * Options for {@link createTokenClient}. Give either `tokenEndpoint` or `issuer`.
 */
export interface TokenClientOptions {
  /** The OAuth 2.0 client identifier of this public client (RFC 6749 §2.2, §3.2.1). */
  clientId: string
  /**
   * The token endpoint (RFC 6749 §3.2). `https:`, or `http:` to a loopback host only.
   * Required unless `issuer` is given.
   */
  tokenEndpoint?: string
  /**
   * The authorization server's issuer identifier. Endpoints are read from its RFC 8414 metadata,
   * falling back to OpenID Connect Discovery; the metadata's `issuer` must match.
   */
  issuer?: string
  /**
   * The RFC 7009 revocation endpoint, used by `logout()`. Discovered when `issuer` is given.
   * @default undefined (logout only forgets the session locally)
   */
  revocationEndpoint?: string
  /**
   * Origins that may receive the access token (`https://api.example.com`). Requests to any other
   * origin are sent untouched. `http:` is accepted for loopback hosts only.
   * @default the page's own origin in a browser; required elsewhere
   */
  apiOrigins?: readonly string[]
  /**
   * `scope` to send with every refresh (RFC 6749 §6); must not exceed the original grant.
   * @default undefined (the server keeps the original scope)
   */
  scope?: string
  /**
   * How long before expiry to renew proactively, in milliseconds. Never more than half the
   * token's lifetime; a little jitter is subtracted so sibling clients do not renew in lockstep.
   * @default 30_000
   */
  refreshLeeway?: number
  /**
   * Where the session is kept: `'memory'` (gone on reload, safest against XSS persistence),
   * `'session'` (sessionStorage), `'local'` (localStorage) or a custom {@link TokenStorage}.
   * Web Storage that is unavailable (SSR, sandboxed frames) falls back to memory.
   * @default 'memory'
   */
  storage?: 'memory' | 'session' | 'local' | TokenStorage
  /**
   * The `fetch` used for API calls and token-endpoint requests.
   * @default globalThis.fetch, resolved at call time so later polyfills and mocks are seen
   */
  fetch?: FetchFunction
}

/** Options after validation and defaults: what the rest of the SDK reads. */
export interface ResolvedOptions {
  readonly clientId: string
  readonly tokenEndpoint: string | undefined
  readonly issuer: string | undefined
  readonly revocationEndpoint: string | undefined
  readonly apiOrigins: ReadonlySet<string>
  readonly scope: string | undefined
  readonly refreshLeeway: number
  readonly storage: 'memory' | 'session' | 'local' | TokenStorage
  readonly fetch: FetchFunction
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]'])

/**
 * Whether a URL may carry credentials: `https:`, or `http:` to a loopback host
 * (RFC 6749 §3.1.2.1, §10.3; RFC 8252 §8.3).
 */
export function isSecureUrl(url: URL): boolean {
  if (url.protocol === 'https:') return true
  return (
    url.protocol === 'http:' &&
    (LOOPBACK_HOSTS.has(url.hostname) ||
      url.hostname.endsWith('.localhost') ||
      url.hostname.startsWith('127.'))
  )
}

/**
 * Parses an endpoint URL and checks it is secure.
 *
 * @throws {TypeError} naming `option` when the URL is invalid or insecure
 */
export function parseSecureUrl(value: unknown, option: string): URL {
  if (typeof value !== 'string') throw new TypeError(`"${option}" must be a URL string`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new TypeError(`"${option}" must be an absolute URL`)
  }
  if (!isSecureUrl(url)) {
    throw new TypeError(`"${option}" must use https: (http: is allowed for loopback hosts only)`)
  }
  return url
}

function pageOrigin(): string | undefined {
  const origin = (globalThis as { location?: { origin?: unknown } }).location?.origin
  return typeof origin === 'string' && origin !== 'null' ? origin : undefined
}

function resolveApiOrigins(value: readonly string[] | undefined): ReadonlySet<string> {
  if (value === undefined) {
    const origin = pageOrigin()
    if (origin === undefined) {
      throw new TypeError('"apiOrigins" is required outside a browser (there is no page origin)')
    }
    return new Set([parseSecureUrl(origin, 'apiOrigins (default: the page origin)').origin])
  }
  if (!Array.isArray(value)) throw new TypeError('"apiOrigins" must be an array of origins')
  return new Set(value.map((entry) => parseSecureUrl(entry, 'apiOrigins').origin))
}

/**
 * Validates options once and applies defaults. Never mutates the caller's object.
 *
 * @throws {TypeError} naming the first invalid option
 */
export function resolveOptions(options: TokenClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('options must be an object')
  }
  const { clientId, tokenEndpoint, issuer, revocationEndpoint, scope } = options
  if (typeof clientId !== 'string' || clientId.length === 0) {
    throw new TypeError('"clientId" must be a non-empty string')
  }
  if ((tokenEndpoint === undefined) === (issuer === undefined)) {
    throw new TypeError('give exactly one of "tokenEndpoint" or "issuer"')
  }
  if (scope !== undefined && typeof scope !== 'string') {
    throw new TypeError('"scope" must be a string')
  }
  const refreshLeeway = options.refreshLeeway ?? 30_000
  if (typeof refreshLeeway !== 'number' || !Number.isFinite(refreshLeeway) || refreshLeeway < 0) {
    throw new TypeError('"refreshLeeway" must be a non-negative number of milliseconds')
  }
  const storage = options.storage ?? 'memory'
  if (
    typeof storage === 'string'
      ? !['memory', 'session', 'local'].includes(storage)
      : typeof storage?.get !== 'function' ||
        typeof storage.set !== 'function' ||
        typeof storage.remove !== 'function'
  ) {
    throw new TypeError('"storage" must be "memory", "session", "local" or { get, set, remove }')
  }
  const customFetch = options.fetch
  if (customFetch !== undefined && typeof customFetch !== 'function') {
    throw new TypeError('"fetch" must be a function')
  }
  return {
    clientId,
    tokenEndpoint:
      tokenEndpoint === undefined ? undefined : parseSecureUrl(tokenEndpoint, 'tokenEndpoint').href,
    // The issuer is kept as given: RFC 8414 §3.3 compares it to the metadata's `issuer` verbatim.
    issuer: issuer === undefined ? undefined : parseSecureUrl(issuer, 'issuer') && issuer,
    revocationEndpoint:
      revocationEndpoint === undefined
        ? undefined
        : parseSecureUrl(revocationEndpoint, 'revocationEndpoint').href,
    apiOrigins: resolveApiOrigins(options.apiOrigins),
    scope,
    refreshLeeway,
    storage,
    fetch: customFetch ?? ((input, init) => globalThis.fetch(input, init)),
  }
}
