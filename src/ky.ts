import ky, { type KyInstance } from 'ky'
import type { FetchFunction } from './options.js'

/**
 * Creates a ky instance whose requests go through the token client's fetch, so they share its
 * lifecycle: the token is attached for allowed origins, renewed before expiry and once after a
 * 401. API errors stay ky's own (`HTTPError`).
 *
 * A 401 is never retried by ky, even when an app lists 401 in `retry.statusCodes`: the fetch has
 * already renewed and retried once, and each further attempt would start another renewal.
 *
 * @param authFetch - the client's token-attaching fetch
 * @returns a ky instance; extend it with `.extend()` for a base URL, hooks or timeouts
 * @see https://www.rfc-editor.org/rfc/rfc6750#section-3.1
 */
export function createAuthKy(authFetch: FetchFunction): KyInstance {
  return ky.create({
    fetch: authFetch,
    hooks: {
      beforeRetry: [
        ({ error }) => {
          // ky's HTTPError carries the response; other errors (network, timeout) do not.
          if ((error as { response?: Response }).response?.status === 401) throw error
        },
      ],
    },
  })
}
