/** Fake-timer helpers shared by the integration tests (`vi.useFakeTimers()` must be active). */
import { setImmediate as nextMacrotask } from 'node:timers/promises'
import { vi } from 'vitest'

/** Fake "now" at the start of every test that starts the fake clock at a fixed instant. */
export const T0 = Date.UTC(2030, 0, 1)

/** Advances fake time to the epoch-ms instant `at`. */
export async function advanceToInstant(at: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(at - Date.now())
}

/** Advances fake time to `T0 + ms`. */
export async function advanceTo(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(T0 + ms - Date.now())
}

/** Advances fake time in fixed steps until a promise settles; see {@link stepUntilSettled}. */
export type AdvanceUntil = <T>(promise: Promise<T>, limit?: number) => Promise<T>

/**
 * Makes an `advanceUntil(promise, limit = defaultLimit)` that advances fake time in `step` ms steps
 * until `promise` settles (at most `limit` ms), then returns `promise`.
 *
 * @param step - the fake milliseconds of one step
 * @param defaultLimit - the limit when a call gives none
 */
export function stepUntilSettled(step: number, defaultLimit = 60_000): AdvanceUntil {
  return async <T>(promise: Promise<T>, limit = defaultLimit): Promise<T> => {
    let settled = false
    promise.then(
      () => {
        settled = true
      },
      () => {
        settled = true
      },
    )
    for (let waited = 0; !settled && waited < limit; waited += step) {
      await vi.advanceTimersByTimeAsync(step)
    }
    return promise
  }
}

/**
 * Settles `promise` while stepping fake time 100 ms at a time (at most a minute), letting real I/O
 * progress between steps, so retries, backoffs and ky's retry delays run without real waiting and
 * without overshooting the renewal pause.
 */
export async function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  let result: PromiseSettledResult<T> | undefined
  promise.then(
    (value) => {
      result = { status: 'fulfilled', value }
    },
    (reason: unknown) => {
      result = { status: 'rejected', reason }
    },
  )
  for (let step = 0; step < 600 && result === undefined; step++) {
    await nextMacrotask()
    await vi.advanceTimersByTimeAsync(100)
  }
  if (result === undefined) throw new Error('the promise did not settle within a minute')
  return result
}
