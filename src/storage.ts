import { optionalType } from './options.js'
import { createTokenSet, isTokenValue, type TokenSet } from './token-set.js'

/**
 * A custom place to keep the session, sync or async (for example an encrypted IndexedDB store).
 * Values are opaque strings written by freshtoken.
 */
export interface TokenStorage {
  get(key: string): string | null | undefined | Promise<string | null | undefined>
  set(key: string, value: string): void | Promise<void>
  remove(key: string): void | Promise<void>
}

/** What is persisted: the tokens plus the lifetime the proactive schedule needs. */
export interface StoredSession {
  readonly tokens: TokenSet
  /** The access token's lifetime in ms when it was received, if known. */
  readonly lifetime: number | undefined
  /**
   * Orders session states across tabs (higher is newer): a login takes the time it was made in
   * epoch ms, each renewal of it the next integer. Absent until the session commits it.
   */
  readonly revision?: number | undefined
  /**
   * The access tokens of the APIs with a resource indicator (RFC 8707), by resource, each without
   * a refresh token: the session's one refresh token is in `tokens`.
   */
  readonly resources?: Readonly<Record<string, StoredSession>> | undefined
  /** The JWK thumbprint (RFC 7638) of the DPoP key the session's tokens are bound to (RFC 9449). */
  readonly jkt?: string | undefined
}

/** The storage format version; data with another version is discarded. */
const FORMAT_VERSION = 1

/** A storage adapter that keeps the sync path sync, so a restored session is usable at once. */
export interface SessionStore {
  /**
   * Whether every tab reads and writes the same store (localStorage, a custom store), rather than
   * one of its own (memory, sessionStorage).
   */
  readonly shared: boolean
  load(): StoredSession | null | Promise<StoredSession | null>
  save(session: StoredSession | null): void | Promise<void>
}

/**
 * Parses stored data, returning `null` for anything corrupt, foreign or from another version.
 * Never throws: a bad entry must not crash the app.
 */
export function decodeSession(raw: unknown): StoredSession | null {
  if (typeof raw !== 'string') return null
  let data: unknown
  try {
    data = JSON.parse(raw)
  } catch {}
  // Unparsable text leaves it undefined; any value but an object of this format is refused below.
  return (data as { v?: unknown } | null)?.v === FORMAT_VERSION ? decodeEntry(data) : null
}

/**
 * Validates a stored session. Its resources' tokens (`resources`) are kept as an object, and
 * validated by the resource-tokens chunk before use.
 */
function decodeEntry(data: unknown): StoredSession | null {
  const { tokens, lifetime, revision, resources, jkt } = (data ?? {}) as Record<string, unknown>
  if (typeof tokens !== 'object' || tokens === null) return null
  const { accessToken, tokenType, refreshToken, expiresAt, refreshExpiresAt, scope, idToken } =
    tokens as Record<string, unknown>
  const valid =
    isTokenValue(accessToken) &&
    (refreshToken === undefined || isTokenValue(refreshToken)) &&
    (tokenType === 'Bearer' || tokenType === 'DPoP') &&
    [scope, idToken, jkt].every((value) => optionalType(value, 'string')) &&
    [expiresAt, refreshExpiresAt, lifetime, revision].every((value) =>
      optionalType(value, 'number'),
    ) &&
    optionalType(resources, 'object')
  if (!valid) return null
  return {
    tokens: createTokenSet({
      accessToken,
      tokenType,
      refreshToken: refreshToken as string | undefined,
      expiresAt: expiresAt as number | undefined,
      refreshExpiresAt: refreshExpiresAt as number | undefined,
      scope: scope as string | undefined,
      idToken: idToken as string | undefined,
    }),
    lifetime: lifetime as number | undefined,
    revision: revision as number | undefined,
    resources: resources as StoredSession['resources'],
    jkt: jkt as string | undefined,
  }
}

/** Serialises a session with its format version. */
export function encodeSession(session: StoredSession): string {
  return JSON.stringify({ v: FORMAT_VERSION, ...session })
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function'
}

function webStorage(kind: 'session' | 'local'): TokenStorage | undefined {
  try {
    // Reading the property itself throws in sandboxed frames and with storage disabled.
    const store = globalThis[`${kind}Storage`]
    if (!store) return undefined
    return {
      get: (key) => store.getItem(key),
      set: (key, value) => store.setItem(key, value),
      remove: (key) => store.removeItem(key),
    }
  } catch {
    // Unusable storage: undefined, and the caller keeps the session in memory.
  }
}

/** Keeps nothing: the session itself is the memory, and the store is read only at start-up. */
const memoryStore = (): SessionStore => ({ shared: false, load: () => null, save: () => undefined })

/**
 * Creates the session store for the `storage` option. Entries are keyed by client id so two
 * clients on one origin do not overwrite each other.
 *
 * @param storage - the resolved `storage` option
 * @param key - the entry's key: `freshtoken:` and the OAuth client id
 */
export function createSessionStore(
  storage: 'memory' | 'session' | 'local' | TokenStorage,
  key: string,
): SessionStore {
  const backend =
    typeof storage === 'string' ? (storage === 'memory' ? undefined : webStorage(storage)) : storage
  if (backend === undefined) return memoryStore()
  return {
    shared: storage !== 'session',
    load() {
      // A read that throws is handled by the session, which then starts without one.
      const raw = backend.get(key)
      return isThenable(raw)
        ? Promise.resolve(raw).then(decodeSession, () => null)
        : decodeSession(raw)
    },
    save(session) {
      return session === null ? backend.remove(key) : backend.set(key, encodeSession(session))
    },
  }
}
