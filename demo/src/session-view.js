import { fingerprint, redact } from './tokens.js'

/**
 * @typedef {'starting' | 'active' | 'none' | 'expired' | 'logged-out'} SessionState
 */

/** What each state reads as on the page. */
const STATE_LABELS = {
  starting: 'starting…',
  active: 'active',
  none: 'no session',
  expired: 'expired: the server ended the session',
  'logged-out': 'logged out',
}

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
 * Shows the session: its state, the redacted tokens with a fingerprint, and the access token's
 * remaining life as a live countdown.
 *
 * @param {import('freshtoken').TokenClient} auth - the client
 * @returns {{ setEnded(state: SessionState): void, render(): void }} `setEnded` records how the
 *   last session ended (shown while there is no session); `render` redraws now
 */
export function createSessionView(auth) {
  const state = byId('state')
  const accessToken = byId('access-token')
  const refreshToken = byId('refresh-token')
  const print = byId('fingerprint')
  const countdown = byId('countdown')
  const lifetime = /** @type {HTMLProgressElement} */ (byId('lifetime'))
  /** @type {SessionState} */
  let ended = 'starting'
  let shownToken = ''
  /** Remaining life of the shown access token when this tab first saw it, in milliseconds. */
  let fullLife = 1

  function render() {
    const tokens = auth.tokens
    /** @type {SessionState} */
    const current = tokens === null ? ended : 'active'
    state.dataset.state = current
    state.textContent = STATE_LABELS[current]
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
      remaining > 0 ? `${(remaining / 1000).toFixed(1)} s` : 'expired (renewed on the next call)'
    lifetime.value = Math.max(0, remaining / fullLife)
  }

  setInterval(render, TICK)
  return {
    setEnded(next) {
      ended = next
      render()
    },
    render,
  }
}
