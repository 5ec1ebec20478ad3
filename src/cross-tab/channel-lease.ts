import type { RenewalLock } from './renewal-lock.js'

/** Messages of the lease protocol, sent over the tabs' channel. */
export type LeaseMessage =
  | { readonly type: 'claim'; readonly id: string; readonly at: number }
  | { readonly type: 'held' | 'release'; readonly id: string }

/** A lease fallback for browsers without Web Locks: handles the lease messages of siblings. */
export interface ChannelLease extends RenewalLock {
  receive(message: LeaseMessage): void
}

/**
 * The fallback when Web Locks are missing: a lease claimed over the tabs' channel. A tab claims,
 * waits `claimWindow` for a competing claim (the earlier claim wins, then the smaller id),
 * and a tab that holds the lease answers every claim with `held`. A tab that stops claiming (it
 * lost, then a sibling's result made the wait pointless) withdraws its claim with `release`.
 *
 * @param post - sends a message to every sibling
 * @param claimWindow - how long a claim waits for a competing one, ms (`CLAIM_WINDOW`)
 * @param lapse - how long a lease nobody released lasts, ms (`LEASE_LAPSE`)
 */
export function createChannelLease(
  post: (message: LeaseMessage) => void,
  claimWindow: number,
  lapse: number,
): ChannelLease {
  const id = Math.random().toString(36).slice(2)
  let holding = false
  /** This tab's latest claim; marking an earlier one lost (after its window) changes nothing. */
  let claim: { at: number; lost: boolean } | undefined
  /** Siblings that claimed or hold the lease, with when their claim lapses. */
  const siblings = new Map<string, number>()
  let wake: (() => void) | undefined

  /** Resolves after `ms`, or earlier when a sibling releases (if `wakeable`); rejects on abort. */
  const pause = (ms: number, signal: AbortSignal, wakeable: boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', settle)
        if (wake === settle) wake = undefined
        if (signal.aborted) reject(signal.reason)
        else resolve()
      }
      const timer = setTimeout(settle, ms)
      signal.addEventListener('abort', settle, { once: true })
      if (wakeable) wake = settle
    })

  return {
    receive(message) {
      if (message.id === id) return
      if (message.type === 'release') {
        siblings.delete(message.id)
        wake?.()
        return
      }
      siblings.set(message.id, Date.now() + lapse)
      if (message.type !== 'claim') {
        if (claim) claim.lost = true
      } else if (holding) {
        post({ type: 'held', id })
      } else if (claim && (message.at < claim.at || (message.at === claim.at && message.id < id))) {
        claim.lost = true
      }
    },
    async acquire(signal) {
      let claimed = false
      try {
        for (;;) {
          signal.throwIfAborted()
          const busyUntil = Math.max(0, ...siblings.values())
          if (Date.now() < busyUntil) {
            await pause(busyUntil - Date.now(), signal, true)
            continue
          }
          // Every sibling's claim has lapsed by now: the map holds only those heard from here on.
          const mine = { at: Date.now(), lost: false }
          claim = mine
          claimed = true
          post({ type: 'claim', id, at: mine.at })
          await pause(claimWindow, signal, false)
          if (mine.lost) continue
          // Whoever claimed meanwhile lost to this claim and waits for its release.
          siblings.clear()
          holding = true
          return () => {
            holding = false
            post({ type: 'release', id })
          }
        }
      } catch (error) {
        if (claimed) post({ type: 'release', id })
        throw error
      }
    },
  }
}
