import { ATTEMPT_LIFETIME } from './timing.js'

/** One sign-in attempt: what the authorization response must match, and what completes it. */
export interface Attempt {
  /** RFC 6749 §10.12: binds the response to this attempt. */
  readonly state: string
  /** RFC 7636 §4.1: the PKCE code verifier. */
  readonly verifier: string
  /** OpenID Connect Core §3.1.2.1: when the scope has `openid`. */
  readonly nonce: string | undefined
  readonly redirectUri: string
  /** The app's `state` option, returned by `handleRedirect`. */
  readonly appState: unknown
  /** Local time the attempt started, epoch ms. */
  readonly createdAt: number
  /** RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (`dpop_jkt`). */
  readonly jkt?: string | undefined
}

type Attempts = Record<string, Attempt>

/** This tab's sessionStorage, or a map in memory where it is unavailable (sandboxed frames). */
function tabStorage(): Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> {
  try {
    if (globalThis.sessionStorage) return globalThis.sessionStorage
  } catch {}
  const memory = new Map<string, string>()
  return {
    getItem: (key) => memory.get(key) ?? null,
    setItem: (key, value) => void memory.set(key, value),
    removeItem: (key) => void memory.delete(key),
  }
}

/**
 * The sign-in attempts of this tab that may still come back, kept in its `sessionStorage` so
 * they survive the redirect (and no other tab sees them). Each is used once and expires after
 * {@link ATTEMPT_LIFETIME}.
 *
 * @param clientId - keys the entry, so two clients on one origin keep apart
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.12
 * @see https://www.rfc-editor.org/rfc/rfc7636#section-4.1
 */
export function createAttempts(clientId: string) {
  const key = `freshtoken:login:${clientId}`
  const storage = tabStorage()

  /** The attempts still live: expired ones and unreadable entries are dropped. */
  function read(): Attempts {
    let all: Attempts = {}
    try {
      all = JSON.parse(storage.getItem(key) ?? '{}') ?? {}
    } catch {}
    const now = Date.now()
    const live: Attempts = {}
    for (const [state, attempt] of Object.entries(all)) {
      const age = now - attempt?.createdAt
      if (age >= 0 && age < ATTEMPT_LIFETIME) live[state] = attempt
    }
    return live
  }

  function write(attempts: Attempts): void {
    try {
      if (Object.keys(attempts).length === 0) storage.removeItem(key)
      else storage.setItem(key, JSON.stringify(attempts))
    } catch {
      // Storage full or disabled: the attempt cannot survive the redirect, and its response will
      // be refused as `state_mismatch`.
    }
  }

  return {
    /** Remembers an attempt until its response comes back. */
    save(attempt: Attempt): void {
      write({ ...read(), [attempt.state]: attempt })
    },
    /** Takes the attempt of `state` out: a second response with the same state finds nothing. */
    take(state: string | null): Attempt | undefined {
      const attempts = read()
      const attempt = state !== null && Object.hasOwn(attempts, state) ? attempts[state] : undefined
      if (state !== null) delete attempts[state]
      write(attempts)
      return attempt
    },
  }
}
