/**
 * The WebCrypto and IndexedDB of a seed: deterministic, and finished within the step that asked.
 *
 * Node's `crypto.subtle` runs its jobs on libuv's thread pool: a promise it returns resolves when
 * the job is done, outside the scheduler's control, maybe after the step's one macrotask turn (a
 * DPoP proof signed in step n would then be sent in some later step, whichever ran first), and
 * ECDSA keys and signatures are random whatever the seed. So a seed gets a fake `subtle` whose
 * promises are already settled: SHA-256 and HMAC are computed for real (synchronously, with
 * node:crypto, the same bytes WebCrypto gives), and ES256 is a stand-in: a "P-256 key" is 64 bytes
 * from the seed's `bytes` stream (its `x` and `y`) and a private secret kept in this module's
 * registry of the seed; a "signature" is 64 bytes of HMAC-SHA-256 under that secret, which
 * `verify` recomputes from the secret of the key whose public JWK it is given. A proof therefore
 * verifies only if the holder of that key signed exactly those bytes, as with ES256.
 *
 * The SDK keeps DPoP keys in IndexedDB, or, where it is missing, in a map of its module shared by
 * every client of the JS realm: across the seeds of one worker, so seed n would start with the key
 * of seed n - 1 (and a replay would differ from the bulk run). A seed therefore gets an IndexedDB
 * of its own: one database for the browser (every tab of the origin shares it), its requests
 * answered in later tasks of the tab that made them (a read-write transaction's read, its writes
 * and its completion in one task, so transactions never interleave, as IndexedDB guarantees).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { Random } from './random.js'
import type { Context, Scheduler } from './scheduler.js'

/** A key of the fake WebCrypto. */
export interface FakeKey {
  readonly type: 'public' | 'private' | 'secret'
  readonly algorithm: { readonly name: string; readonly namedCurve?: string }
  readonly extractable: boolean
  readonly usages: readonly string[]
  /** ECDSA: the public coordinates, base64url. */
  readonly x?: string
  readonly y?: string
  /** HMAC: the key bytes. */
  readonly raw?: Buffer
}

/** What the fake WebCrypto reports, for the trace and the monitor. */
export interface CryptoHooks {
  /** A P-256 key was made (its public `x`, for the trace). */
  generated?(x: string): void
  /** An ES256 signature was made over `input` (a JWS signing input) by the running context. */
  signed?(input: string): void
}

const b64url = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')
const bytesOf = (data: BufferSource): Buffer =>
  ArrayBuffer.isView(data)
    ? Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    : Buffer.from(data as ArrayBuffer)
const nameOf = (algorithm: AlgorithmIdentifier): string =>
  (typeof algorithm === 'string' ? algorithm : algorithm.name).toUpperCase()
const arrayBuffer = (buffer: Buffer): ArrayBuffer =>
  buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength) as ArrayBuffer

/**
 * Creates the fake `crypto.subtle` of one seed.
 *
 * @param bytes - the seed's stream for key material
 * @param hooks - reports
 */
export function createFakeSubtle(
  bytes: Random,
  hooks: CryptoHooks = {},
): { subtle: SubtleCrypto; generate(): { publicKey: FakeKey; privateKey: FakeKey } } {
  /** The private secret of each P-256 key, by its public `x`. */
  const secrets = new Map<string, Buffer>()
  const es256 = (secret: Buffer, data: Buffer): Buffer =>
    Buffer.concat([
      createHmac('sha256', secret).update(data).digest(),
      createHmac('sha256', secret).update('s').update(data).digest(),
    ])
  const fail = (what: string) =>
    Promise.reject(
      new DOMException(`the simulated WebCrypto does not do ${what}`, 'NotSupportedError'),
    )

  /** A new P-256 key pair (synchronously: the world makes one for a login, see world.ts). */
  function generate(extractable: boolean, usages: readonly string[]) {
    const material = new Uint8Array(96)
    bytes.fill(material)
    const x = b64url(material.subarray(0, 32))
    const y = b64url(material.subarray(32, 64))
    secrets.set(x, Buffer.from(material.subarray(64)))
    hooks.generated?.(x)
    const algo = { name: 'ECDSA', namedCurve: 'P-256' }
    const publicKey: FakeKey = {
      type: 'public',
      algorithm: algo,
      extractable: true,
      usages: usages.filter((u) => u === 'verify'),
      x,
      y,
    }
    const privateKey: FakeKey = {
      type: 'private',
      algorithm: algo,
      extractable,
      usages: usages.filter((u) => u === 'sign'),
      x,
      y,
    }
    return { publicKey, privateKey }
  }

  const subtle = {
    digest(algorithm: AlgorithmIdentifier, data: BufferSource) {
      if (nameOf(algorithm) !== 'SHA-256') return fail(`digest ${nameOf(algorithm)}`)
      return Promise.resolve(arrayBuffer(createHash('sha256').update(bytesOf(data)).digest()))
    },
    generateKey(algorithm: EcKeyGenParams, extractable: boolean, usages: readonly string[]) {
      if (nameOf(algorithm) !== 'ECDSA' || algorithm.namedCurve !== 'P-256')
        return fail(`generateKey ${nameOf(algorithm)}`)
      return Promise.resolve(generate(extractable, usages))
    },
    exportKey(format: string, key: FakeKey) {
      if (format !== 'jwk' || key.x === undefined) return fail(`exportKey ${format}`)
      if (!key.extractable) {
        return Promise.reject(new DOMException('key is not extractable', 'InvalidAccessError'))
      }
      return Promise.resolve({
        kty: 'EC',
        crv: 'P-256',
        x: key.x,
        y: key.y,
        ext: true,
        key_ops: [...key.usages],
      })
    },
    importKey(
      format: string,
      data: JsonWebKey | BufferSource,
      algorithm: AlgorithmIdentifier,
      extractable: boolean,
      usages: readonly string[],
    ) {
      const name = nameOf(algorithm)
      if (format === 'jwk' && name === 'ECDSA') {
        const { kty, crv, x, y } = data as JsonWebKey
        if (kty !== 'EC' || crv !== 'P-256' || typeof x !== 'string' || typeof y !== 'string') {
          return Promise.reject(new DOMException('not a P-256 JWK', 'DataError'))
        }
        const key: FakeKey = {
          type: 'public',
          algorithm: { name: 'ECDSA', namedCurve: 'P-256' },
          extractable,
          usages,
          x,
          y,
        }
        return Promise.resolve(key)
      }
      if (format === 'raw' && name === 'HMAC') {
        const key: FakeKey = {
          type: 'secret',
          algorithm: { name: 'HMAC' },
          extractable,
          usages,
          raw: Buffer.from(bytesOf(data as BufferSource)),
        }
        return Promise.resolve(key)
      }
      return fail(`importKey ${format} ${name}`)
    },
    sign(algorithm: AlgorithmIdentifier, key: FakeKey, data: BufferSource) {
      const name = nameOf(algorithm)
      if (name === 'HMAC' && key.raw) {
        return Promise.resolve(
          arrayBuffer(createHmac('sha256', key.raw).update(bytesOf(data)).digest()),
        )
      }
      const secret = key.type === 'private' && key.x !== undefined ? secrets.get(key.x) : undefined
      if (name !== 'ECDSA' || secret === undefined) return fail(`sign ${name} with this key`)
      hooks.signed?.(bytesOf(data).toString('latin1'))
      return Promise.resolve(arrayBuffer(es256(secret, bytesOf(data))))
    },
    verify(
      algorithm: AlgorithmIdentifier,
      key: FakeKey,
      signature: BufferSource,
      data: BufferSource,
    ) {
      const name = nameOf(algorithm)
      const given = bytesOf(signature)
      let expected: Buffer | undefined
      if (name === 'HMAC' && key.raw) {
        expected = createHmac('sha256', key.raw).update(bytesOf(data)).digest()
      } else if (name === 'ECDSA' && key.x !== undefined) {
        const secret = secrets.get(key.x)
        expected = secret && es256(secret, bytesOf(data))
      } else return fail(`verify ${name}`)
      return Promise.resolve(
        expected !== undefined &&
          expected.length === given.length &&
          timingSafeEqual(expected, given),
      )
    },
  }
  return {
    subtle: subtle as unknown as SubtleCrypto,
    generate: () => generate(false, ['sign', 'verify']),
  }
}

/** One IndexedDB request: `result`, `error` and its handlers, as the SDK uses them. */
class FakeRequest<T> {
  result = undefined as T
  error: DOMException | null = null
  onsuccess: ((event: unknown) => void) | null = null
  onerror: ((event: unknown) => void) | null = null
  onupgradeneeded: ((event: unknown) => void) | null = null
}

/**
 * Creates the IndexedDB of one browser: databases of object stores of values by key, values
 * copied in and out (a structured clone keeps object identity of `CryptoKey`s, a shallow copy of
 * the arrays the SDK stores is enough here).
 *
 * @param scheduler - requests complete in later tasks of the context that made them
 * @param delay - the delay of each request, ms
 */
export function createFakeIndexedDB(
  scheduler: Scheduler,
  delay: () => number,
): {
  factory: IDBFactory
  /** The world reads a stored value at once (no task): what a tab would read now. */
  peek(database: string, store: string, key: unknown): unknown
  /** The world writes a value at once, creating the database and store if needed. */
  put(database: string, store: string, key: unknown, value: unknown): void
} {
  const databases = new Map<
    string,
    { version: number; stores: Map<string, Map<unknown, unknown>> }
  >()
  const copy = (value: unknown) => (Array.isArray(value) ? [...value] : value)
  const later = (label: string, run: () => void) => {
    const owner = scheduler.owner('indexedDB') as Context
    scheduler.schedule(owner, delay(), 'storage', label, run)
  }

  function connection(name: string) {
    const db = databases.get(name) as NonNullable<ReturnType<typeof databases.get>>
    return {
      createObjectStore(store: string) {
        // The world may have written the store before any tab opened the database.
        if (!db.stores.has(store)) db.stores.set(store, new Map())
      },
      close() {},
      transaction(storeName: string, _mode?: string) {
        const store = db.stores.get(storeName)
        if (store === undefined) throw new DOMException(`no store ${storeName}`, 'NotFoundError')
        const requests: FakeRequest<unknown>[] = []
        const transaction = {
          oncomplete: null as ((event: unknown) => void) | null,
          onerror: null as ((event: unknown) => void) | null,
          onabort: null as ((event: unknown) => void) | null,
          error: null,
          objectStore() {
            const request = <T>(op: () => T) => {
              const r = new FakeRequest<T>()
              requests.push(r as FakeRequest<unknown>)
              // Operations of a transaction run in order, in the task that runs the transaction.
              pendingOps.push(() => {
                r.result = op()
                r.onsuccess?.({ target: r })
              })
              return r
            }
            return {
              get: (key: unknown) => request(() => copy(store.get(key))),
              put: (value: unknown, key: unknown) =>
                request(() => {
                  store.set(key, copy(value))
                  return key
                }),
              delete: (key: unknown) =>
                request(() => {
                  store.delete(key)
                  return undefined
                }),
            }
          },
        }
        const pendingOps: (() => void)[] = []
        later('indexedDB transaction', () => {
          // A request's success handler may queue more requests of the same transaction.
          while (pendingOps.length > 0) pendingOps.shift()?.()
          transaction.oncomplete?.({ target: transaction })
        })
        return transaction
      },
    }
  }

  const factory = {
    open(name: string, version = 1) {
      const request = new FakeRequest<ReturnType<typeof connection>>()
      later('indexedDB open', () => {
        let db = databases.get(name)
        const upgrade = db === undefined || db.version < version
        if (db === undefined) {
          db = { version, stores: new Map() }
          databases.set(name, db)
        }
        db.version = version
        request.result = connection(name)
        if (upgrade) request.onupgradeneeded?.({ target: request })
        request.onsuccess?.({ target: request })
      })
      return request
    },
  }
  return {
    factory: factory as unknown as IDBFactory,
    peek: (database, store, key) => copy(databases.get(database)?.stores.get(store)?.get(key)),
    put(database, store, key, value) {
      let db = databases.get(database)
      if (db === undefined) {
        // A tab that opens it later still upgrades it: version 0 until then.
        db = { version: 0, stores: new Map() }
        databases.set(database, db)
      }
      let table = db.stores.get(store)
      if (table === undefined) {
        table = new Map()
        db.stores.set(store, table)
      }
      table.set(key, copy(value))
    },
  }
}
