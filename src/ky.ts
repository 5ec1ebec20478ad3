import ky, { type KyInstance } from 'ky'
import type { FetchFunction } from './options.js'

/**
 * Creates a ky instance whose requests go through the token client's fetch, so they share its
 * lifecycle: the token is attached for allowed origins, renewed before expiry and once after a
 * 401. API errors stay ky's own (`HTTPError`); ky's own retries never resend a 401.
 *
 * @param authFetch - the client's token-attaching fetch
 * @returns a ky instance; extend it with `.extend()` for a base URL, hooks or timeouts
 */
export function createAuthKy(authFetch: FetchFunction): KyInstance {
  return ky.create({ fetch: authFetch })
}
