/**
 * Mutual exclusion of renewals across the tabs of one origin: one tab sends the refresh token at
 * a time, so a token rotated by one tab is never sent again by another (RFC 9700 §4.14.2).
 */
export interface RenewalLock {
  /**
   * Waits for the lock; resolves with its release. Rejects when `signal` aborts first (the
   * caller stopped waiting: a sibling's result arrived, or the wait ran out).
   */
  acquire(signal: AbortSignal): Promise<() => void>
}

/** Messages of the lease protocol, sent over the tabs' channel. */
export type LeaseMessage =
  | { readonly type: 'claim'; readonly id: string; readonly at: number }
  | { readonly type: 'held' | 'release'; readonly id: string }

/** A lease fallback for browsers without Web Locks: handles the lease messages of siblings. */
export interface ChannelLease extends RenewalLock {
  receive(message: LeaseMessage): void
}

/**
 * How long a claim waits for a competing one before the lease is taken. Siblings' messages arrive
 * within a few milliseconds, so two tabs claiming at once always see each other.
 */
const CLAIM_WINDOW = 100
/** A lease whose holder never released it (tab closed mid-renewal) lapses after this long. */
const LEASE_LAPSE = 35_000

/**
 * The renewal lock from Web Locks (`navigator.locks`), held in the page's browsing-context group,
 * released by the browser if the tab goes away.
 *
 * @param locks - the page's lock manager
 * @param name - the lock's name, one per client id
 */
export function createWebLock(locks: LockManager, name: string): RenewalLock {
  return {
    acquire: (signal) =>
      new Promise((granted, reject) => {
        locks
          .request(name, { signal }, () => new Promise<void>((release) => granted(release)))
          .catch(reject)
      }),
  }
}

/**
 * The fallback when Web Locks are missing: a lease claimed over the tabs' channel. A tab claims,
 * waits {@link CLAIM_WINDOW} for a competing claim (the earlier claim wins, then the smaller id),
 * and a tab that holds the lease answers every claim with `held`.
 *
 * @param post - sends a message to every sibling
 */
export function createChannelLease(post: (message: LeaseMessage) => void): ChannelLease {
  const id = Math.random().toString(36).slice(2)
  let holding = false
  let claim: { at: number; lost: boolean } | undefined
  /** Until when a sibling is taken to hold the lease (0: nobody). */
  let siblingUntil = 0
  let wake: (() => void) | undefined

  /** Resolves after `ms`, or earlier when a release arrives (if `wakeable`); rejects on abort. */
  const pause = (ms: number, signal: AbortSignal, wakeable: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', onAbort)
        if (wake === done) wake = undefined
        resolve()
      }
      const onAbort = (): void => {
        done()
        reject(signal.reason)
      }
      const timer = setTimeout(done, ms)
      signal.addEventListener('abort', onAbort, { once: true })
      if (wakeable) wake = done
    })

  return {
    receive(message) {
      if (message.id === id) return
      if (message.type === 'release') {
        siblingUntil = 0
        wake?.()
        return
      }
      siblingUntil = Date.now() + LEASE_LAPSE
      if (message.type !== 'claim') {
        if (claim) claim.lost = true
      } else if (holding) {
        post({ type: 'held', id })
      } else if (claim && (message.at < claim.at || (message.at === claim.at && message.id < id))) {
        claim.lost = true
      }
    },
    async acquire(signal) {
      for (;;) {
        signal.throwIfAborted()
        if (Date.now() < siblingUntil) {
          await pause(siblingUntil - Date.now(), signal, true)
          continue
        }
        const mine = { at: Date.now(), lost: false }
        claim = mine
        post({ type: 'claim', id, at: mine.at })
        try {
          await pause(CLAIM_WINDOW, signal, false)
        } finally {
          claim = undefined
        }
        if (mine.lost) continue
        holding = true
        siblingUntil = 0
        return () => {
          holding = false
          post({ type: 'release', id })
        }
      }
    },
  }
}
