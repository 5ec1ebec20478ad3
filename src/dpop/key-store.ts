// Part of the DPoP chunk, loaded only by clients with `dpop: true`.
import { base64url } from '../login/pkce.js'

/** A DPoP key: the pair, its public JWK (RFC 7517) and that JWK's thumbprint (RFC 7638). */
export interface DpopKey {
  /** The private key is non-extractable: it can sign, and it can never be read. */
  readonly pair: CryptoKeyPair
  /** The public key's members that the proof header carries (§4.2): `kty`, `crv`, `x`, `y`. */
  readonly jwk: {
    readonly kty: string
    readonly crv: string
    readonly x: string
    readonly y: string
  }
  /** The JWK SHA-256 thumbprint, base64url (RFC 7638 §3): `dpop_jkt` and `cnf.jkt`. */
  readonly jkt: string
}

/** Where a client's DPoP keys live: newest first, at most two (the session's and a new login's). */
export interface KeyStore {
  /** The key whose thumbprint is `jkt`, else the newest one, created on the first need. */
  key(jkt?: string): Promise<DpopKey>
  /** Creates a new key and makes it the newest (a sign-in starts a new binding). */
  renew(): Promise<DpopKey>
  /** Forgets the key whose thumbprint is `jkt` (its session ended). */
  forget(jkt: string): Promise<void>
}

const DATABASE = 'freshtoken-dpop'
const KEYS = 'keys'
/** The keys of this page when IndexedDB is unavailable, by store name. */
const inMemory = new Map<string, StoredKey[]>()

/** A key as stored: the pair and its thumbprint, so a transaction can pick one synchronously. */
interface StoredKey {
  readonly jkt: string
  readonly pair: CryptoKeyPair
}

/** Computes the next records from the stored ones; `undefined` leaves them as they are. */
type Update = (keys: StoredKey[]) => StoredKey[] | undefined

/** Opens the key database, or rejects where IndexedDB is missing or refused (private modes). */
function openDatabase(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1)
    request.onupgradeneeded = () => request.result.createObjectStore(KEYS)
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

/**
 * Runs `update` on the stored keys of `name` in one readwrite transaction, so tabs never
 * interleave; resolves to the keys after it.
 */
function updateStored(database: IDBDatabase, name: string, update: Update): Promise<StoredKey[]> {
  return new Promise((resolve, reject) => {
    const transaction = database.transaction(KEYS, 'readwrite')
    const store = transaction.objectStore(KEYS)
    let keys: StoredKey[] = []
    const read = store.get(name)
    read.onsuccess = () => {
      keys = Array.isArray(read.result) ? read.result : []
      const next = update(keys)
      if (next !== undefined) {
        keys = next
        if (next.length) store.put(next, name)
        else store.delete(name)
      }
    }
    transaction.oncomplete = () => resolve(keys)
    transaction.onerror = transaction.onabort = () => reject(transaction.error)
  })
}

/** The public JWK of `pair`: the members RFC 7638 §3.2 hashes, in lexical order. */
async function publicJwk(pair: CryptoKeyPair): Promise<DpopKey['jwk']> {
  const { crv, kty, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
  return { crv, kty, x, y } as DpopKey['jwk']
}

/** A new non-extractable P-256 pair with its thumbprint (RFC 7638 §3). */
async function generate(): Promise<StoredKey> {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair
  const text = new TextEncoder().encode(JSON.stringify(await publicJwk(pair)))
  return { jkt: base64url(await crypto.subtle.digest('SHA-256', text)), pair }
}

/**
 * Creates the key store of one client: a non-extractable ES256 (P-256) key pair per client id,
 * kept in IndexedDB (a `CryptoKey` goes through structured clone and stays non-extractable), the
 * same key for every tab of the origin. Where IndexedDB is unavailable the keys live in this
 * page's memory: a session bound to one cannot survive a reload.
 *
 * @param name - the client's store name (`freshtoken:` and the client id)
 * @see https://www.rfc-editor.org/rfc/rfc9449#section-2
 */
export function createKeyStore(name: string): KeyStore {
  let database: Promise<IDBDatabase> | undefined

  async function update(fn: Update): Promise<StoredKey[]> {
    try {
      database ??= openDatabase()
      return await updateStored(await database, name, fn)
    } catch {
      const keys = inMemory.get(name) ?? []
      const next = fn(keys) ?? keys
      inMemory.set(name, next)
      return next
    }
  }

  const described = async ({ jkt, pair }: StoredKey): Promise<DpopKey> => ({
    pair,
    jkt,
    jwk: await publicJwk(pair),
  })

  return {
    async key(jkt) {
      let keys = await update(() => undefined)
      if (!keys.length) {
        const created = await generate()
        // A sibling may have created one meanwhile: the stored one wins.
        keys = await update((now) => (now.length ? undefined : [created]))
      }
      return described(keys.find((key) => key.jkt === jkt) ?? (keys[0] as StoredKey))
    },
    async renew() {
      const created = await generate()
      await update((keys) => [created, ...keys].slice(0, 2))
      return described(created)
    },
    async forget(jkt) {
      await update((keys) => keys.filter((key) => key.jkt !== jkt))
    },
  }
}
