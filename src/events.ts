import type { AuthError, SessionExpiredError } from './errors.js'
import type { TokenSet } from './token-set.js'

/**
 * The events a token client emits and their payloads. Only `tokens` and `refresh` carry tokens.
 *
 * - `tokens`: the session's tokens changed (set, renewed, restored from storage).
 * - `refresh`: a renewal succeeded (RFC 6749 §6).
 * - `expired`: the token server ended the session (`invalid_grant`); fires once per session.
 * - `logout`: `logout()` ended the session.
 * - `error`: a renewal failed without ending the session (server down, malformed response, …).
 * - `session-ending`: the session's hard end (`refresh_expires_in`, a JWT refresh token's `exp`,
 *   a session backend's answer) is `sessionEndingNotice` away or nearer; at `endsAt` (epoch ms) the
 *   session ends with `expired`. Fires once per end, in every tab that shares the session.
 */
export interface TokenClientEvents {
  tokens: TokenSet
  refresh: TokenSet
  expired: SessionExpiredError
  logout: undefined
  error: AuthError
  'session-ending': { readonly endsAt: number }
}

/** A listener for event `E`. */
export type TokenClientListener<E extends keyof TokenClientEvents> = (
  payload: TokenClientEvents[E],
) => void

/** A minimal typed emitter. Listener errors are reported, never thrown into the SDK. */
export interface Emitter {
  on<E extends keyof TokenClientEvents>(event: E, listener: TokenClientListener<E>): () => void
  emit<E extends keyof TokenClientEvents>(event: E, payload: TokenClientEvents[E]): void
  clear(): void
}

/** Creates the event emitter behind `auth.on()`. */
export function createEmitter(): Emitter {
  const listeners = new Map<keyof TokenClientEvents, Set<(payload: never) => void>>()
  return {
    on(event, listener) {
      const set = listeners.get(event) ?? new Set()
      listeners.set(event, set)
      set.add(listener)
      return () => {
        set.delete(listener)
      }
    },
    emit(event, payload) {
      for (const listener of [...(listeners.get(event) ?? [])]) {
        try {
          ;(listener as TokenClientListener<typeof event>)(payload)
        } catch (error) {
          // An app callback must not break the lifecycle; surface it the way the platform does.
          globalThis.reportError?.(error)
        }
      }
    },
    clear() {
      listeners.clear()
    },
  }
}
