import type { MockStateStorage } from './state-storage.js'

/**
 * The browser's cookie jar, as far as the session backend needs one, kept by the mock itself.
 *
 * Why the mock keeps it: msw 3 stores a mocked response's `Set-Cookie` only in a browser (its
 * `cookieStore` is `null` when `isNodeProcess()`, which is true under vitest with happy-dom too),
 * and the intercepted request never reaches happy-dom's own cookie handling, so an httpOnly cookie
 * set by a mocked response would never come back on the next request in Node. The backend
 * therefore writes every cookie it sets both as a real `Set-Cookie` header and into this jar, and
 * reads the jar when a request carries no `Cookie` header of its own.
 *
 * Cookies are kept per origin and name, with their expiry on `Date.now()`'s clock (fake timers
 * expire them). With a `stateStorage` the jar lives there, under its own key, so every mock over
 * that storage (every tab) shares one jar, as the tabs of a browser do.
 */
export interface CookieJar {
  /**
   * The value of a live cookie.
   *
   * @param origin - the origin the cookie was set by
   * @param name - the cookie name
   * @returns its value, `null` when there is none or it expired
   */
  get(origin: string, name: string): string | null
  /**
   * Stores a cookie, or deletes it when `maxAge` is not positive (`Max-Age=0`, RFC 6265 §5.2.2).
   *
   * @param origin - the origin setting it
   * @param name - the cookie name
   * @param value - the cookie value
   * @param maxAge - its lifetime in milliseconds
   */
  set(origin: string, name: string, value: string, maxAge: number): void
  /** Forgets every cookie. */
  clear(): void
}

interface StoredCookie {
  readonly value: string
  readonly expiresAt: number
}

/** Version of the serialised jar; anything else is ignored as foreign. */
const VERSION = 1

function cookieKey(origin: string, name: string): string {
  return `${origin} ${name}`
}

function load(storage: MockStateStorage, key: string, cookies: Map<string, StoredCookie>): void {
  cookies.clear()
  let state: unknown
  try {
    state = JSON.parse(storage.getItem(key) ?? 'null')
  } catch {
    return
  }
  if (typeof state !== 'object' || state === null) return
  const { version, cookies: entries } = state as { version?: unknown; cookies?: unknown }
  if (version !== VERSION || !Array.isArray(entries)) return
  for (const entry of entries) {
    if (!Array.isArray(entry) || typeof entry[0] !== 'string') continue
    const cookie = entry[1] as Partial<StoredCookie> | null
    if (typeof cookie?.value !== 'string' || typeof cookie.expiresAt !== 'number') continue
    cookies.set(entry[0], { value: cookie.value, expiresAt: cookie.expiresAt })
  }
}

/**
 * Creates the jar, in memory or over `storage`.
 *
 * @param storage - where to share the jar, `null` to keep it private to this mock
 * @param key - the storage key
 * @returns the jar
 * @see https://www.rfc-editor.org/rfc/rfc6265#section-5.3
 */
export function createCookieJar(storage: MockStateStorage | null, key: string): CookieJar {
  const cookies = new Map<string, StoredCookie>()
  const read = () => {
    if (storage !== null) load(storage, key, cookies)
  }
  const write = () => {
    storage?.setItem(key, JSON.stringify({ version: VERSION, cookies: [...cookies] }))
  }
  return {
    get(origin, name) {
      read()
      const cookie = cookies.get(cookieKey(origin, name))
      return cookie !== undefined && Date.now() < cookie.expiresAt ? cookie.value : null
    },
    set(origin, name, value, maxAge) {
      read()
      if (maxAge > 0)
        cookies.set(cookieKey(origin, name), { value, expiresAt: Date.now() + maxAge })
      else cookies.delete(cookieKey(origin, name))
      write()
    },
    clear() {
      cookies.clear()
      write()
    },
  }
}
