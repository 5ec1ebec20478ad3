/**
 * Web Locks (`navigator.locks`) for the tabs of one origin: exclusive and shared modes, a FIFO
 * queue per name, `signal` (an aborted wait leaves the queue, rejecting with the signal's reason),
 * `ifAvailable`, and `query()`. Grants and query answers reach the tab as its own tasks after a
 * short delay (the lock manager lives in the browser process). When a tab is gone, the browser
 * releases its locks and drops its requests.
 *
 * @see https://w3c.github.io/web-locks/
 */
import type { Context, Label, Scheduler, Task } from './scheduler.js'

/** What the broker needs from the world. */
export interface BrokerHooks {
  /** The delay of a grant or a query answer, ms. */
  delay(): number
  /** A note for the trace. */
  note(owner: Context, text: Label): void
  /** An API use the model does not support (so the simulator notices a new SDK need). */
  unsupported(what: string): void
}

interface LockRequest {
  readonly name: string
  readonly mode: LockMode
  readonly owner: Context
  readonly callback: (lock: Lock | null) => unknown
  readonly resolve: (value: unknown) => void
  readonly reject: (reason: unknown) => void
  readonly signal: AbortSignal | undefined
  onAbort?: () => void
}

interface HeldLock {
  readonly name: string
  readonly mode: LockMode
  readonly owner: Context
}

/** The origin's lock manager, with one `LockManager` view per tab. */
export class LockBroker {
  private readonly held: HeldLock[] = []
  private readonly queue: LockRequest[] = []
  /** Grants and query answers on their way to a tab. */
  readonly answers = new Set<Task>()

  constructor(
    private readonly scheduler: Scheduler,
    private readonly hooks: BrokerHooks,
  ) {}

  /** `navigator.locks` of one tab. */
  managerFor(owner: Context, clientId: string): LockManager {
    const manager = {
      request: (name: string, ...rest: unknown[]) => this.request(owner, String(name), rest),
      query: () => this.query(owner, clientId),
    }
    return manager as unknown as LockManager
  }

  private request(owner: Context, name: string, rest: unknown[]): Promise<unknown> {
    const [first, second] = rest
    const options = (typeof first === 'function' ? {} : (first ?? {})) as LockOptions
    const callback = (typeof first === 'function' ? first : second) as LockRequest['callback']
    if (typeof callback !== 'function') {
      return Promise.reject(new TypeError('LockManager.request: callback is not a function'))
    }
    if (options.steal) this.hooks.unsupported('navigator.locks.request({ steal })')
    const mode: LockMode = options.mode ?? 'exclusive'
    const signal = options.signal ?? undefined
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason)
        return
      }
      const request: LockRequest = { name, mode, owner, callback, resolve, reject, signal }
      if (options.ifAvailable) {
        if (this.grantable(request) && !this.queue.some((other) => other.name === name)) {
          this.grant(request)
        } else {
          this.hooks.note(owner, () => `lock ${name} not available`)
          Promise.resolve()
            .then(() => callback(null))
            .then(resolve, reject)
        }
        return
      }
      if (signal !== undefined) {
        request.onAbort = () => {
          const index = this.queue.indexOf(request)
          if (index === -1) return
          this.queue.splice(index, 1)
          this.hooks.note(owner, () => `lock ${name} wait aborted`)
          reject(signal.reason)
          this.process()
        }
        signal.addEventListener('abort', request.onAbort, { once: true })
      }
      this.queue.push(request)
      this.process()
    })
  }

  private grantable(request: LockRequest): boolean {
    const holders = this.held.filter((lock) => lock.name === request.name)
    return request.mode === 'shared'
      ? holders.every((lock) => lock.mode === 'shared')
      : holders.length === 0
  }

  /** Grants, per name and in order, every request at the head of the queue that can be. */
  private process(): void {
    const blocked = new Set<string>()
    for (const request of [...this.queue]) {
      if (blocked.has(request.name)) continue
      if (!this.grantable(request)) {
        blocked.add(request.name)
        continue
      }
      this.queue.splice(this.queue.indexOf(request), 1)
      this.grant(request)
    }
  }

  private grant(request: LockRequest): void {
    const { name, mode, owner, callback, resolve, reject, signal, onAbort } = request
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
    const lock: HeldLock = { name, mode, owner }
    this.held.push(lock)
    const task = this.scheduler.schedule(
      owner,
      this.hooks.delay(),
      'lock',
      () => `lock ${name} granted`,
      () => {
        this.answers.delete(task)
        let result: Promise<unknown>
        try {
          result = Promise.resolve(callback({ name, mode } as Lock))
        } catch (error) {
          result = Promise.reject(error)
        }
        result
          .finally(() => {
            // The tab may be gone since: its locks were released then.
            const index = this.held.indexOf(lock)
            if (index === -1) return
            this.held.splice(index, 1)
            this.process()
          })
          .then(resolve, reject)
      },
    )
    this.answers.add(task)
  }

  private query(owner: Context, clientId: string): Promise<LockManagerSnapshot> {
    const info = ({ name, mode }: { name: string; mode: LockMode }) => ({ name, mode, clientId })
    const snapshot: LockManagerSnapshot = {
      held: this.held.map(info),
      pending: this.queue.map(info),
    }
    return new Promise((resolve) => {
      const task = this.scheduler.schedule(
        owner,
        this.hooks.delay(),
        'lock',
        'locks.query answered',
        () => {
          this.answers.delete(task)
          resolve(snapshot)
        },
      )
      this.answers.add(task)
    })
  }

  /** A tab is gone: the browser releases its locks and forgets its requests. */
  crash(owner: Context): void {
    for (let i = this.held.length - 1; i >= 0; i--) {
      if (this.held[i]?.owner === owner) this.held.splice(i, 1)
    }
    for (let i = this.queue.length - 1; i >= 0; i--) {
      if (this.queue[i]?.owner === owner) this.queue.splice(i, 1)
    }
    for (const task of this.answers) if (task.owner === owner) this.answers.delete(task)
    this.process()
  }

  /** Whether a grant or a query answer is on its way to a tab that runs. */
  inFlight(): boolean {
    for (const task of this.answers) if (task.owner.status === 'live') return true
    return false
  }

  /** Locks `owner` holds or waits for, by name (`name` to count one name only). */
  count(owner: Context | undefined, name?: string): { held: number; pending: number } {
    const matches = (lock: { owner: Context; name: string }) =>
      (owner === undefined || lock.owner === owner) && (name === undefined || lock.name === name)
    return {
      held: this.held.filter(matches).length,
      pending: this.queue.filter(matches).length,
    }
  }
}
