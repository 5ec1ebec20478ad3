/**
 * The two waits everything else is built on: abortable() (a caller's AbortSignal ends its wait,
 * never the shared work) and settledWithin() (a bounded wait that leaves no timer behind), and
 * exponentialPause(), the pause behind the backoff and the circuit breaker.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { exponentialPause } from '../../src/timing.js'
import { abortable, settledWithin } from '../../src/waiting.js'

describe('abortable', () => {
  it('is the promise itself without a signal', () => {
    const promise = Promise.resolve(1)
    expect(abortable(promise, undefined)).toBe(promise)
    expect(abortable(promise, null)).toBe(promise)
  })

  it('settles as the promise does while the signal is not aborted', async () => {
    const signal = new AbortController().signal
    await expect(abortable(Promise.resolve('value'), signal)).resolves.toBe('value')
    const failure = new Error('failed')
    await expect(abortable(Promise.reject(failure), signal)).rejects.toBe(failure)
  })

  it("rejects with the signal's reason when it aborts first", async () => {
    const controller = new AbortController()
    const waiting = abortable(new Promise(() => undefined), controller.signal)
    const reason = new Error('user left the page')
    controller.abort(reason)
    await expect(waiting).rejects.toBe(reason)
  })

  it('leaves no listener on a long-lived signal once the promise settles', async () => {
    const signal = new AbortController().signal
    const add = vi.spyOn(signal, 'addEventListener')
    const remove = vi.spyOn(signal, 'removeEventListener')
    await abortable(Promise.resolve(1), signal)
    await Promise.resolve()
    expect(add).toHaveBeenCalledTimes(1)
    expect(remove).toHaveBeenCalledWith('abort', add.mock.calls[0]?.[1])
  })
})

describe('settledWithin', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('is true when the promise fulfils or rejects in time, and clears its timer', async () => {
    await expect(settledWithin(Promise.resolve(), 1_000)).resolves.toBe(true)
    await expect(settledWithin(Promise.reject(new Error('x')), 1_000)).resolves.toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('is false once the time is up, and no sooner', async () => {
    let result: boolean | undefined
    void settledWithin(new Promise(() => undefined), 1_000).then((value) => {
      result = value
    })
    await vi.advanceTimersByTimeAsync(999)
    expect(result).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(result).toBe(false)
  })
})

describe('exponentialPause', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('doubles from the first pause up to the cap, without jitter at random 0', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0)
    expect([1, 2, 3, 6, 7, 20].map((count) => exponentialPause(count, 1_000, 60_000))).toEqual([
      1_000, 2_000, 4_000, 32_000, 60_000, 60_000,
    ])
  })

  it('is up to 20 % shorter at random, rounded up to a whole ms', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.999_999)
    expect(exponentialPause(1, 1_000, 60_000)).toBe(801)
    vi.spyOn(Math, 'random').mockReturnValue(0.5)
    expect(exponentialPause(3, 1_000, 60_000)).toBe(3_600)
  })
})
