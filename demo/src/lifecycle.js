import { redact } from './tokens.js'

/**
 * Puts the client's lifecycle on the timeline and tells the page when the session changed.
 *
 * Telling a cross-tab adoption from this tab's own changes: freshtoken fires `'tokens'` for every
 * change of the session, and `'refresh'` right after it (in the same task) for its own renewals.
 * So a `'tokens'` not followed by `'refresh'` before the next microtask, and not caused by this
 * tab's own `setTokens`, is a session another tab renewed or started, adopted here.
 *
 * @param {import('freshtoken').TokenClient} auth - the client
 * @param {ReturnType<typeof import('./timeline.js').createTimeline>} timeline - where to log
 * @param {(change: 'active' | 'expired' | 'logged-out') => void} onChange - called on every change
 * @param {(endsAt: number) => void} [onEnding] - called when `'session-ending'` fires
 * @returns {{ setTokens(response: import('freshtoken').TokenResponse): void,
 *   signIn<T>(how: string, login: () => Promise<T>): Promise<T> }} `setTokens` that logs the
 *   change as this tab's own; `signIn` that runs a login (redirect callback or popup) and logs the
 *   session it starts as this tab's own
 */
export function watchLifecycle(auth, timeline, onChange, onEnding = () => {}) {
  let settingOwnTokens = false
  /** How the session being signed in to was obtained, while a sign-in runs in this tab. */
  let signingIn = ''
  /** @type {import('freshtoken').TokenSet | null} */
  let unexplained = null

  auth.on('tokens', (tokens) => {
    onChange('active')
    if (signingIn !== '') {
      timeline.add('started', `signed in (${signingIn}): ${redact(tokens.accessToken)}`)
      return
    }
    if (settingOwnTokens) {
      timeline.add(
        'started',
        `session started in this tab (setTokens): ${redact(tokens.accessToken)}`,
      )
      return
    }
    unexplained = tokens
    queueMicrotask(() => {
      if (unexplained !== tokens) return
      unexplained = null
      timeline.add('adopted', `adopted the session of another tab: ${redact(tokens.accessToken)}`)
    })
  })
  auth.on('refresh', (tokens) => {
    unexplained = null
    timeline.add(
      'refresh',
      `renewed the access token (refresh grant): ${redact(tokens.accessToken)}`,
    )
  })
  auth.on('expired', () => {
    onChange('expired')
    timeline.add(
      'expired',
      'session over: the token server refused the refresh token, or the session reached its end',
    )
  })
  auth.on('session-ending', ({ endsAt }) => {
    onEnding(endsAt)
    timeline.add(
      'session-ending',
      `the session ends at ${new Date(endsAt).toLocaleTimeString()}: sign in again to go on`,
    )
  })
  auth.on('logout', () => {
    onChange('logged-out')
    timeline.add('logout', 'logged out')
  })
  auth.on('error', (error) => {
    timeline.add('error', `renewal failed (${error.code}); the session is kept`)
  })

  return {
    setTokens(response) {
      settingOwnTokens = true
      try {
        auth.setTokens(response)
      } finally {
        settingOwnTokens = false
      }
    },
    async signIn(how, login) {
      signingIn = how
      try {
        return await login()
      } finally {
        signingIn = ''
      }
    },
  }
}
