import { fingerprint, redact } from './tokens.js'

/**
 * @typedef {'starting' | 'active' | 'none' | 'expired' | 'logged-out'} SessionState
 */

/** What each state reads as on the page. */
const STATE_LABELS = {
  starting: 'starting…',
  active: 'active',
  none: 'no session',
  expired: 'expired: the session is over',
  'logged-out': 'logged out',
}

/** How far apart two announced ends of a session may be and still be the same end, in ms. */
const SAME_END = 5_000

/** How often the countdown is redrawn, in milliseconds. */
const TICK = 100

/**
 * @param {string} id - an element id of index.html
 * @returns {HTMLElement} the element
 */
function byId(id) {
  const element = document.getElementById(id)
  if (element === null) throw new Error(`#${id} is missing from index.html`)
  return element
}

/**
 * @param {number} ms - a duration in milliseconds
 * @returns {string} it in seconds, one decimal
 */
function seconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`
}

/**
 * Shows the session: its state, the redacted tokens with a fingerprint, and the access token's
 * remaining life as a live countdown; on the sign-in page also the user (the ID token's `sub`),
 * the session's hard end (`refreshExpiresAt`) as a countdown, and a notice once `'session-ending'`
 * fired.
 *
 * @param {import('freshtoken').TokenClient} auth - the client
 * @returns {{ setEnded(state: SessionState): void, setEnding(endsAt: number): void,
 *   render(): void }} `setEnded` records how the last session ended (shown while there is no
 *   session); `setEnding` shows the notice of the session's end; `render` redraws now
 */
export function createSessionView(auth) {
  const state = byId('state')
  const accessToken = byId('access-token')
  const refreshToken = byId('refresh-token')
  const print = byId('fingerprint')
  const countdown = byId('countdown')
  const lifetime = /** @type {HTMLProgressElement} */ (byId('lifetime'))
  const user = byId('user')
  const sessionCountdown = byId('session-countdown')
  const notice = byId('session-notice')
  /** When the session `'session-ending'` announced ends (epoch ms), until another one starts. */
  let endingAt = 0
  /** @type {SessionState} */
  let ended = 'starting'
  let shownToken = ''
  /** Remaining life of the shown access token when this tab first saw it, in milliseconds. */
  let fullLife = 1

  function renderSessionEnd() {
    const tokens = auth.tokens
    const claims = tokens === null ? null : auth.idTokenClaims
    user.textContent = typeof claims?.sub === 'string' ? claims.sub : '—'
    if (claims?.sub === undefined) delete user.dataset.sub
    else user.dataset.sub = String(claims.sub)
    const endsAt = tokens?.refreshExpiresAt
    if (endsAt === undefined) {
      sessionCountdown.textContent = tokens === null ? '—' : 'unknown'
      delete sessionCountdown.dataset.ms
    } else {
      const left = Math.max(0, endsAt - Date.now())
      sessionCountdown.dataset.ms = String(Math.round(left))
      sessionCountdown.textContent = `${seconds(left)} (at ${new Date(endsAt).toLocaleTimeString()})`
    }
    // A new session (a later end, or none known) takes the notice down. Each renewal recomputes
    // the same end from `refresh_expires_in` (whole seconds, counted from receipt): it moves by a
    // second or so, and is no new session.
    if (tokens !== null && (endsAt === undefined || endsAt - endingAt > SAME_END)) endingAt = 0
    if (endingAt === 0) {
      notice.hidden = true
      delete notice.dataset.kind
    } else if (tokens === null) {
      notice.hidden = false
      notice.dataset.kind = 'ended'
      notice.textContent = 'Your session has ended. Sign in again to continue.'
    } else {
      notice.hidden = false
      notice.dataset.kind = 'ending'
      notice.textContent = `Your session ends in ${seconds(Math.max(0, endingAt - Date.now()))}: save your work, then sign in again.`
    }
  }

  function render() {
    const tokens = auth.tokens
    /** @type {SessionState} */
    const current = tokens === null ? ended : 'active'
    state.dataset.state = current
    state.textContent = STATE_LABELS[current]
    renderSessionEnd()
    accessToken.textContent = redact(tokens?.accessToken)
    refreshToken.textContent = redact(tokens?.refreshToken)
    if (tokens?.accessToken !== shownToken) {
      shownToken = tokens?.accessToken ?? ''
      fullLife = Math.max(1, (tokens?.expiresAt ?? 0) - Date.now())
      print.textContent = ''
      delete print.dataset.fingerprint
      if (tokens !== null) {
        const token = tokens.accessToken
        fingerprint(token).then((value) => {
          if (token !== shownToken) return
          print.textContent = value
          print.dataset.fingerprint = value
        })
      }
    }
    if (tokens?.expiresAt === undefined) {
      countdown.textContent = tokens === null ? '—' : 'unknown (renewed on 401)'
      delete countdown.dataset.ms
      lifetime.value = 0
      return
    }
    const remaining = tokens.expiresAt - Date.now()
    countdown.dataset.ms = String(Math.round(remaining))
    countdown.textContent =
      remaining > 0 ? seconds(remaining) : 'expired (renewed on the next call)'
    lifetime.value = Math.max(0, remaining / fullLife)
  }

  setInterval(render, TICK)
  return {
    setEnded(next) {
      ended = next
      // A logout is no end to announce.
      if (next !== 'expired') endingAt = 0
      render()
    },
    setEnding(endsAt) {
      endingAt = endsAt
      render()
    },
    render,
  }
}
