/**
 * The globals a seed replaces while it runs, restored afterwards: timers, both clocks,
 * `Math.random` (the SDK's jitter), `crypto.getRandomValues` (the mock's token values),
 * `crypto.subtle` and `indexedDB` (DPoP keys and proofs, see webcrypto.ts), and the
 * per-tab browser globals the SDK reads (`BroadcastChannel`, `navigator.locks`, window listeners,
 * `document`, Web Storage). The browser globals are getters that answer for the context whose step
 * is running, so a tab's client, created and run in that tab's steps, only ever sees its own tab.
 */
import type { BroadcastHub } from './channel.js'
import type { Page, SimStorage } from './page.js'
import type { Random } from './random.js'
import type { Context, Scheduler } from './scheduler.js'

/** What the globals answer with. */
export interface GlobalsSource {
  readonly scheduler: Scheduler
  /** The world: owns a channel created outside every tab (a misattribution, reported). */
  readonly world: Context
  readonly hub: BroadcastHub
  /** `Math.random()` */
  readonly random: Random
  /** `crypto.getRandomValues()` */
  readonly bytes: Random
  readonly localStorage: SimStorage
  /** `crypto.subtle`: deterministic and settled within the step (see webcrypto.ts). */
  readonly subtle: SubtleCrypto
  /** `indexedDB`: the browser's, one per seed (see webcrypto.ts). */
  readonly indexedDB: IDBFactory
  readonly origin: string
  /** The page of the context whose step runs, `undefined` for the world. */
  pageOf(context: Context | undefined): TabGlobals | undefined
}

/** A tab's own globals. */
export interface TabGlobals {
  readonly page: Page
  readonly navigator: { readonly locks: LockManager | undefined; readonly onLine: boolean }
}

/** `performance.now()` starts near this, as in a page that loaded a moment ago. */
const PERFORMANCE_ORIGIN = 1_000

const REPLACED = [
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'BroadcastChannel',
  'navigator',
  'crypto',
  'indexedDB',
  'document',
  'location',
  'localStorage',
  'sessionStorage',
  'addEventListener',
  'removeEventListener',
  'dispatchEvent',
] as const

/**
 * Installs the simulated globals.
 *
 * @param source - what they answer with
 * @returns a function that restores the real ones
 */
export function installGlobals(source: GlobalsSource): () => void {
  const { scheduler, hub } = source
  const g = globalThis as Record<string, unknown>
  const saved = REPLACED.map((key) => [key, Object.getOwnPropertyDescriptor(g, key)] as const)
  const realNow = Date.now
  const realRandom = Math.random
  const hadPerformanceNow = Object.hasOwn(performance, 'now')

  const tab = (what: string): TabGlobals | undefined => {
    const context = scheduler.owner(what)
    const page = source.pageOf(context)
    if (page === undefined) scheduler.owner(`${what} outside a tab`)
    return page
  }
  const value = (key: string, v: unknown) =>
    Object.defineProperty(g, key, { value: v, writable: true, configurable: true })
  const getter = (key: string, get: () => unknown) =>
    Object.defineProperty(g, key, { get, configurable: true })

  value('setTimeout', (callback: unknown, ms?: unknown, ...args: unknown[]) =>
    scheduler.addTimer(callback, ms, args, false),
  )
  value('setInterval', (callback: unknown, ms?: unknown, ...args: unknown[]) =>
    scheduler.addTimer(callback, ms, args, true),
  )
  value('clearTimeout', (id: unknown) => scheduler.clearTimer(id))
  value('clearInterval', (id: unknown) => scheduler.clearTimer(id))
  Date.now = () => scheduler.wall()
  Object.defineProperty(performance, 'now', {
    value: () => scheduler.now + PERFORMANCE_ORIGIN,
    configurable: true,
    writable: true,
  })
  Math.random = () => source.random.next()
  // Node's crypto.getRandomValues cannot be redefined: the whole object is replaced.
  const crypto = {
    subtle: source.subtle,
    getRandomValues<T extends ArrayBufferView | null>(array: T): T {
      if (array) {
        source.bytes.fill(new Uint8Array(array.buffer, array.byteOffset, array.byteLength))
      }
      return array
    },
    randomUUID(): string {
      const bytes = new Uint8Array(16)
      source.bytes.fill(bytes)
      const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`
    },
  }
  getter('crypto', () => crypto)
  value('indexedDB', source.indexedDB)
  value(
    'BroadcastChannel',
    class BroadcastChannel {
      constructor(name: string) {
        // biome-ignore lint/correctness/noConstructorReturn: the channel belongs to the running tab
        return hub.open(name, scheduler.owner('new BroadcastChannel') ?? source.world)
      }
    },
  )
  getter('navigator', () => tab('navigator')?.navigator)
  getter('document', () => tab('document')?.page.document)
  getter('location', () => ({ href: `${source.origin}/`, origin: source.origin }))
  getter('localStorage', () => source.localStorage)
  getter('sessionStorage', () => tab('sessionStorage')?.page.sessionStorage)
  value(
    'addEventListener',
    (type: string, listener: EventListenerOrEventListenerObject | null, options?: boolean) =>
      tab('addEventListener')?.page.window.add(type, listener, options),
  )
  value(
    'removeEventListener',
    (type: string, listener: EventListenerOrEventListenerObject | null) =>
      tab('removeEventListener')?.page.window.remove(type, listener),
  )
  value('dispatchEvent', (event: Event) => {
    tab('dispatchEvent')?.page.window.dispatch(event)
    return true
  })

  return () => {
    for (const [key, descriptor] of saved) {
      if (descriptor) Object.defineProperty(g, key, descriptor)
      else delete g[key]
    }
    Date.now = realNow
    Math.random = realRandom
    if (!hadPerformanceNow) delete (performance as { now?: unknown }).now
  }
}
