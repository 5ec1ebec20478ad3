/**
 * The browser's cross-tab platform for one origin, modelled in-process and deterministically:
 * `BroadcastChannel` and Web Locks (`navigator.locks`). Clients created in one test file are the
 * tabs. Installed for every happy-dom test by test/mocks/tabs-setup.ts; real Chromium is covered
 * by test/e2e.
 *
 * Messages are structured-cloned and delivered in order to every other open channel of the same
 * name, after a microtask by default, or after {@link Tabs.messageDelay} ms of (fake) time.
 */

type Listener = (event: MessageEvent) => void

/** Controls over the modelled platform. */
export interface Tabs {
  /** Delay of every message in ms (0: the next microtask). */
  messageDelay: number
  /** Whether `navigator.locks` exists; set before creating clients (the SDK reads it then). */
  webLocks: boolean
  /**
   * Whether a message is delivered (default: all are). Returning false models a page that misses
   * it, such as one kept in the back/forward cache.
   */
  deliver: (data: unknown) => boolean
  /** Every message posted so far, in order, as `[channel name, data]`. */
  readonly posted: [string, unknown][]
  /**
   * Resolves once `count` messages that `match` accepts have been posted since the last reset,
   * those already posted included. A wait on what the tabs did, not on time: real work the SDK
   * does first (a chunk it loads on demand) finishes meanwhile, while fake time stands still.
   */
  whenPosted(match: (data: unknown) => boolean, count?: number): Promise<void>
  /** Locks currently held, by name. */
  held(name?: string): number
  /** Restores the defaults and clears the log. */
  reset(): void
}

const channels = new Set<FakeBroadcastChannel>()
const posted: [string, unknown][] = []
/** Waits of {@link Tabs.whenPosted}, checked after every message posted. */
const postWaits = new Set<() => boolean>()
let messageDelay = 0

class FakeBroadcastChannel extends EventTarget {
  onmessage: Listener | null = null
  #closed = false
  constructor(readonly name: string) {
    super()
    channels.add(this)
  }
  postMessage(data: unknown): void {
    if (this.#closed) throw new DOMException('Channel is closed', 'InvalidStateError')
    posted.push([this.name, data])
    for (const wait of postWaits) if (wait()) postWaits.delete(wait)
    const targets = [...channels].filter(
      (channel) => channel !== this && channel.name === this.name,
    )
    if (!tabs.deliver(data)) return
    for (const target of targets) {
      const copy = structuredClone(data)
      const deliver = () => target.receive(copy)
      if (messageDelay > 0) setTimeout(deliver, messageDelay)
      else queueMicrotask(deliver)
    }
  }
  receive(data: unknown): void {
    if (this.#closed) return
    const event = new MessageEvent('message', { data })
    this.onmessage?.(event)
    this.dispatchEvent(event)
  }
  close(): void {
    this.#closed = true
    channels.delete(this)
  }
}

interface LockRequest {
  readonly name: string
  readonly mode: LockMode
  readonly grant: () => void
}

const held: { name: string; mode: LockMode }[] = []
const queue: LockRequest[] = []

function grantable(request: LockRequest): boolean {
  const holders = held.filter((lock) => lock.name === request.name)
  if (request.mode === 'shared') return holders.every((lock) => lock.mode === 'shared')
  return holders.length === 0
}

function pump(): void {
  for (const request of [...queue]) {
    // FIFO per name: an exclusive request waits behind earlier ones.
    const earlier = queue.slice(0, queue.indexOf(request)).some((r) => r.name === request.name)
    if (earlier || !grantable(request)) continue
    queue.splice(queue.indexOf(request), 1)
    request.grant()
  }
}

const lockManager = {
  request(
    name: string,
    optionsOrCallback: LockOptions | ((lock: Lock | null) => unknown),
    maybeCallback?: (lock: Lock | null) => unknown,
  ): Promise<unknown> {
    const options = typeof optionsOrCallback === 'function' ? {} : optionsOrCallback
    const callback = (maybeCallback ?? optionsOrCallback) as (lock: Lock | null) => unknown
    const mode = options.mode ?? 'exclusive'
    const { signal } = options
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason)
      const request: LockRequest = {
        name,
        mode,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          const lock = { name, mode }
          held.push(lock)
          Promise.resolve()
            .then(() => callback(lock as Lock))
            .then(resolve, reject)
            .finally(() => {
              held.splice(held.indexOf(lock), 1)
              pump()
            })
        },
      }
      const onAbort = () => {
        const index = queue.indexOf(request)
        if (index === -1) return
        queue.splice(index, 1)
        reject(new DOMException('The request was aborted.', 'AbortError'))
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      queue.push(request)
      queueMicrotask(pump)
    })
  },
  async query(): Promise<LockManagerSnapshot> {
    return {
      held: held.map(({ name, mode }) => ({ name, mode, clientId: 'tab' })),
      pending: queue.map(({ name, mode }) => ({ name, mode, clientId: 'tab' })),
    }
  },
}

/** The controls, shared by every test of the file (the platform is global). */
export const tabs: Tabs = {
  get messageDelay() {
    return messageDelay
  },
  set messageDelay(ms) {
    messageDelay = ms
  },
  webLocks: true,
  deliver: () => true,
  posted,
  whenPosted(match, count = 1) {
    return new Promise((resolve) => {
      const done = () => {
        if (posted.filter(([, data]) => match(data)).length < count) return false
        resolve()
        return true
      }
      if (!done()) postWaits.add(done)
    })
  },
  held: (name) => held.filter((lock) => name === undefined || lock.name === name).length,
  reset() {
    messageDelay = 0
    tabs.webLocks = true
    tabs.deliver = () => true
    posted.length = 0
    postWaits.clear()
    // A new browser: locks left by a test (a release timer that fake time never reached) go.
    held.length = 0
    queue.length = 0
    for (const channel of channels) channel.close()
  },
}

/** Installs the model as the global `BroadcastChannel` and `navigator.locks`. */
export function installTabs(): void {
  globalThis.BroadcastChannel = FakeBroadcastChannel as unknown as typeof BroadcastChannel
  Object.defineProperty(globalThis.navigator, 'locks', {
    configurable: true,
    get: () => (tabs.webLocks ? lockManager : undefined),
  })
}
