import { createMockTokenServer } from 'freshtoken/testing'
import { setupWorker } from 'msw/browser'

/** Where the mock keeps the token database shared by every tab of the demo. */
const STATE_KEY = 'freshtoken-demo:mock-token-server'

/**
 * Starts freshtoken's mock token server and API inside this page, behind msw's service worker, on
 * this page's own origin (`/mock-auth/…` and `/mock-api/…`), so the demo needs nothing else.
 *
 * Every tab runs its own copy of the mock; they keep one token database in `localStorage`
 * (`stateStorage`), so a token issued or rotated in one tab is known in all of them.
 *
 * @param {{ accessTokenLifetime: number }} settings - the mock's settings
 * @returns {Promise<import('freshtoken/testing').MockTokenServer>} the running mock
 */
export async function startMockBackend({ accessTokenLifetime }) {
  const mock = createMockTokenServer({
    issuer: `${location.origin}/mock-auth`,
    apiOrigin: `${location.origin}/mock-api`,
    allowedOrigins: [location.origin],
    accessTokenLifetime,
    stateStorage: localStorage,
    stateKey: STATE_KEY,
  })
  const worker = setupWorker(...mock.handlers)
  // The page's own files go to the static server; only the mock's URLs are answered here.
  await worker.start({ quiet: true, onUnhandledFrame: 'bypass' })
  return mock
}
