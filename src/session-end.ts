// Loaded on demand (dynamic import) once a session has a known hard end. It imports nothing from
// the main bundle: what it needs is passed in.
import type { Emitter } from './events.js'
import type { Session } from './session.js'
import type { TokenSet } from './token-set.js'

/** The watch on the session's hard end. */
export interface SessionEnd {
  /** Re-arms for the current session. */
  update(): void
  dispose(): void
}

/**
 * Watches the session's hard end (`refreshExpiresAt`: the refresh token's or the backend
 * session's end, which no renewal can pass; for a session that cannot renew, its access token's
 * expiry): fires `'session-ending'` once, `notice` before it
 * (at once when it is already nearer), and ends the session as `'expired'` when it comes. An end
 * that moves away again (a provider that extends an idle session on each renewal) may be noticed
 * again when it comes near.
 *
 * @param session - the session state holder
 * @param events - the client's emitter
 * @param notice - the `sessionEndingNotice` option, ms
 * @param endOf - the hard end of a session's tokens, epoch ms, if known
 * @param maxChunk - the longest single timer (`MAX_CHUNK`), ms
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export function watchSessionEnd(
  session: Session,
  events: Emitter,
  notice: number,
  endOf: (tokens: TokenSet) => number | undefined,
  maxChunk: number,
): SessionEnd {
  let timer: ReturnType<typeof setTimeout> | undefined
  let noticed = false
  let disposed = false

  function update(): void {
    clearTimeout(timer)
    const tokens = session.active()?.tokens
    const endsAt = tokens && endOf(tokens)
    if (endsAt === undefined || disposed) return
    const left = endsAt - Date.now()
    if (left <= 0) {
      session.expire(session.generation)
      return
    }
    if (left > notice) noticed = false
    else if (!noticed) {
      noticed = true
      events.emit('session-ending', { endsAt })
    }
    // Chunked, so a machine that slept does not wake long after the moment.
    timer = setTimeout(update, Math.min(noticed ? left : left - notice, maxChunk))
  }

  return {
    update,
    dispose() {
      disposed = true
      clearTimeout(timer)
    },
  }
}
