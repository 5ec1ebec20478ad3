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
