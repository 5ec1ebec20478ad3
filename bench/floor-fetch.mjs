// The floor for benchmark a): the least a correct token-attaching fetch wrapper does on the path
// freshtoken's auth.fetch takes for most calls (a string URL, no body, no headers of its own, a
// token that needs no renewal). Anything cheaper would skip a check that keeps the token safe.

/**
 * Creates a minimal fetch wrapper that attaches `Authorization: Bearer` (RFC 6750 §2.1) to requests
 * whose origin is exactly one of `origins`, and looks at the response status for a 401. Calls
 * with headers or a body of their own, and renewals, are outside the floor.
 *
 * @param {object} parts
 * @param {(input: RequestInfo | URL, init?: RequestInit) => Promise<Response>} parts.fetch
 * @param {readonly string[]} parts.origins - allowed origins, such as `https://api.example.com`
 * @param {() => { accessToken: string, expiresAt: number }} parts.session - the current token
 * @param {number} parts.leeway - a token this close to expiry (ms) would be renewed first
 * @param {(response: Response) => Promise<Response>} parts.on401 - what a 401 leads to
 */
export function createFloorFetch({ fetch, origins, session, leeway, on401 }) {
  const allowed = origins.map((origin) => new URL(origin).origin)
  const allowedSet = new Set(allowed)

  /**
   * The origin test fetch itself would make: a string that starts with an allowed origin followed
   * by the end of the authority (`/`, `?`, `#` or nothing) has that origin. Anything else (a longer
   * port or host, `@` userinfo, another scheme, upper case, a default port) is parsed.
   */
  function isAllowed(input) {
    if (typeof input === 'string') {
      for (const origin of allowed) {
        if (input.startsWith(origin)) {
          const next = input[origin.length]
          if (next === undefined || next === '/' || next === '?' || next === '#') return true
        }
      }
    }
    try {
      return allowedSet.has(new URL(input instanceof Request ? input.url : String(input)).origin)
    } catch {
      return false
    }
  }

  return function floorFetch(input, init) {
    if (!isAllowed(input)) return fetch(input, init)
    const { accessToken, expiresAt } = session()
    if (expiresAt - Date.now() <= leeway) {
      return Promise.reject(new Error('the floor does not renew tokens'))
    }
    return fetch(input, { ...init, headers: { authorization: `Bearer ${accessToken}` } }).then(
      (response) => (response.status === 401 ? on401(response) : response),
    )
  }
}
