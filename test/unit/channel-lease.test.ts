/**
 * The renewal lease over the tabs' channel, for browsers without Web Locks: several leases joined
 * by a bus that delivers each message to every other lease a moment later, as a channel does.
 * What is checked is the lock's promise: one holder at a time, the earlier claim wins (then the
 * smaller id), a release wakes the waiters, a lease nobody released lapses, and an abort withdraws.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  type ChannelLease,
  createChannelLease,
  type LeaseMessage,
} from '../../src/cross-tab/channel-lease.js'

const CLAIM_WINDOW = 50
const LAPSE = 5_000
const T0 = Date.UTC(2030, 0, 1)

beforeEach(() => {
  vi.useFakeTimers({ now: T0 })
})
afterEach(() => {
  vi.useRealTimers()
  vi.restoreAllMocks()
})

/**
 * `count` leases on one bus that delivers after `delay` ms (ids in order: lease 0 has the
 * smallest); `sent` logs every message.
 */
function group(count: number, delay = 1) {
  const sent: (LeaseMessage & { from: number })[] = []
  const gone = new Set<number>()
  const random = vi.spyOn(Math, 'random')
  const leases = Array.from({ length: count }, (_, from) => {
    random.mockReturnValueOnce(0.1 + from / 100)
    return createChannelLease(
      (message) => {
        sent.push({ ...message, from })
        for (const [to, lease] of leases.entries()) {
          // Delivered after the sender's turn, like a BroadcastChannel message.
          if (to !== from && !gone.has(to)) setTimeout(() => lease.receive(message), delay)
        }
      },
      CLAIM_WINDOW,
      LAPSE,
    )
  })
  return {
    leases,
    /** The `index`th lease. */
    at(index: number): ChannelLease {
      const lease = leases[index]
      if (lease === undefined) throw new RangeError(`no lease ${index}`)
      return lease
    },
    sent,
    /** The tab stops hearing and being heard (crashed, or not open yet). */
    crash: (index: number) => gone.add(index),
    /** The tab hears and is heard from now on. */
    open: (index: number) => gone.delete(index),
  }
}

/** Tracks a promise's outcome without awaiting it. */
function track<T>(promise: Promise<T>) {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false }
  promise.then(
    (value) => Object.assign(state, { value, settled: true }),
    (error: unknown) => Object.assign(state, { error, settled: true }),
  )
  return state
}

const signal = () => new AbortController().signal

describe('a lease alone', () => {
  it('claims, waits the claim window, holds, and announces its release', async () => {
    const { at, sent } = group(1)

    const acquired = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW - 1)
    expect(acquired.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(acquired.settled).toBe(true)
    acquired.value?.()

    const [claim, release] = sent
    expect(claim).toMatchObject({ type: 'claim', at: T0, from: 0 })
    expect(release).toEqual({ type: 'release', id: claim?.id, from: 0 })
    expect(claim?.id).toMatch(/^[0-9a-z]+$/)
  })

  it('ignores its own messages, which a channel never delivers back but a relay might', async () => {
    const { at, sent } = group(1)
    const acquired = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(1)
    at(0).receive({ type: 'held', id: sent[0]?.id ?? '' })

    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)

    expect(acquired.settled).toBe(true)
    expect(sent).toHaveLength(1)
  })
  it('takes a held or claim message before its own first claim in its stride', async () => {
    const { at } = group(1)
    expect(() => at(0).receive({ type: 'held', id: 'sibling' })).not.toThrow()
    expect(() => at(0).receive({ type: 'claim', id: 'sibling', at: T0 })).not.toThrow()
  })
})

describe('two tabs', () => {
  it('that claim in the same millisecond: the smaller id wins, the other waits for its release', async () => {
    const { at, sent } = group(2)

    const first = track(at(0).acquire(signal()))
    const second = track(at(1).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)

    expect(first.settled).toBe(true)
    expect(second.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(second.settled).toBe(false)

    first.value?.()
    const released = Date.now()
    await vi.advanceTimersByTimeAsync(1 + CLAIM_WINDOW)
    expect(second.settled).toBe(true)
    const claims = sent.flatMap((message) =>
      message.type === 'claim' ? [[message.from, message.at]] : [],
    )
    expect(claims).toEqual([
      [0, T0],
      [1, T0],
      [1, released + 1],
    ])
  })

  it('the earlier claim wins over a smaller id that claimed before hearing it', async () => {
    // Messages take 10 ms: lease 0 claims at 5 ms, before lease 1's claim of 0 ms reaches it.
    const { at } = group(2, 10)

    const earlier = track(at(1).acquire(signal()))
    await vi.advanceTimersByTimeAsync(5)
    const later = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW - 5)

    expect(earlier.settled).toBe(true)
    // Lease 0's own window ends at 55 ms: it lost, and waits.
    await vi.advanceTimersByTimeAsync(100)
    expect(later.settled).toBe(false)
    earlier.value?.()
    await vi.advanceTimersByTimeAsync(10 + CLAIM_WINDOW)
    expect(later.settled).toBe(true)
  })

  it('a tab that heard the claim waits for the release without claiming, then claims', async () => {
    const { at, sent } = group(2)
    const holder = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)
    expect(holder.settled).toBe(true)

    const waiter = track(at(1).acquire(signal()))
    await vi.advanceTimersByTimeAsync(1_000)

    expect(waiter.settled).toBe(false)
    expect(sent.map(({ type, from }) => [type, from])).toEqual([['claim', 0]])
    holder.value?.()
    await vi.advanceTimersByTimeAsync(1 + CLAIM_WINDOW)
    expect(waiter.settled).toBe(true)
    expect(sent.map(({ type, from }) => [type, from])).toEqual([
      ['claim', 0],
      ['release', 0],
      ['claim', 1],
    ])
  })

  it('a holder answers the claim of a tab opened later with held; that tab waits for it', async () => {
    const { at, sent, crash, open } = group(2)
    crash(1)
    const holder = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)
    expect(holder.settled).toBe(true)
    open(1)

    const waiter = track(at(1).acquire(signal()))
    await vi.advanceTimersByTimeAsync(1_000)

    expect(waiter.settled).toBe(false)
    expect(sent.map(({ type, from }) => [type, from])).toEqual([
      ['claim', 0],
      ['claim', 1],
      ['held', 0],
    ])
    holder.value?.()
    await vi.advanceTimersByTimeAsync(1 + CLAIM_WINDOW)
    expect(waiter.settled).toBe(true)
  })

  it('takes over a lease its holder never released (a crashed tab) once it lapses', async () => {
    const { at, crash } = group(2)
    const holder = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)
    expect(holder.settled).toBe(true)
    const waiter = track(at(1).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW + 2)
    crash(0)
    const heldAnswer = Date.now()

    await vi.advanceTimersByTimeAsync(LAPSE - CLAIM_WINDOW - 10)
    expect(waiter.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW + 20)
    expect(waiter.settled).toBe(true)
    expect(Date.now() - heldAnswer).toBeLessThanOrEqual(LAPSE + CLAIM_WINDOW)
  })

  it('a waiter whose wait is aborted rejects with the reason, having claimed nothing', async () => {
    const { at, sent } = group(2)
    const holder = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)
    const stop = new AbortController()
    const waiter = track(at(1).acquire(stop.signal))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW * 2)

    const reason = new Error('session moved on')
    stop.abort(reason)
    await vi.advanceTimersByTimeAsync(0)

    expect(waiter.error).toBe(reason)
    expect(sent.map(({ type, from }) => [type, from])).toEqual([['claim', 0]])
    expect(holder.settled).toBe(true)
  })

  it('a tab that never claimed withdraws nothing when aborted', async () => {
    const { at, sent } = group(2)
    await vi.advanceTimersByTimeAsync(0)
    const stop = new AbortController()
    stop.abort(new Error('closed'))

    const aborted = track(at(1).acquire(stop.signal))
    await vi.advanceTimersByTimeAsync(0)

    expect(aborted.error).toEqual(new Error('closed'))
    expect(sent).toEqual([])
  })

  it('after a withdrawn claim, the other claims again at once instead of waiting for the lapse', async () => {
    const { at, sent } = group(2)
    // Lease 0 wins the tie; lease 1 loses and waits; lease 0 withdraws (aborted mid-claim).
    const stop = new AbortController()
    const first = track(at(0).acquire(stop.signal))
    const second = track(at(1).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW / 2)
    stop.abort(new Error('moved on'))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW * 3)

    expect(first.error).toEqual(new Error('moved on'))
    expect(second.settled).toBe(true)
    expect(sent.map(({ type, from }) => [type, from])).toEqual([
      ['claim', 0],
      ['claim', 1],
      ['release', 0],
      ['claim', 1],
    ])
  })

  it('a release heard during the claim window does not cut the window short', async () => {
    const { at, crash, open } = group(3)
    crash(2)
    const claimant = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW / 2)
    open(2)
    at(0).receive({ type: 'release', id: 'someone' })

    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW / 2 - 1)
    expect(claimant.settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect(claimant.settled).toBe(true)
  })

  it('a winner does not wait later for a loser that crashed without a word', async () => {
    const { at, crash } = group(2)
    const winner = track(at(0).acquire(signal()))
    track(at(1).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)
    expect(winner.settled).toBe(true)
    crash(1)
    winner.value?.()

    const again = track(at(0).acquire(signal()))
    await vi.advanceTimersByTimeAsync(CLAIM_WINDOW)

    expect(again.settled).toBe(true)
  })
})

describe('three tabs', () => {
  it('never hand the lease to two at once, and each gets it in turn', async () => {
    const { leases } = group(3)
    const holders: number[] = []
    let inside = 0
    let most = 0
    const work = leases.map(async (lease, index) => {
      const release = await lease.acquire(signal())
      inside++
      most = Math.max(most, inside)
      holders.push(index)
      await new Promise((resolve) => setTimeout(resolve, 200))
      inside--
      release()
    })

    let done = false
    void Promise.all(work).then(() => {
      done = true
    })
    for (let step = 0; step < 100 && !done; step++) await vi.advanceTimersByTimeAsync(100)

    expect(done).toBe(true)
    expect(most).toBe(1)
    expect([...holders].sort()).toEqual([0, 1, 2])
    expect(holders[0]).toBe(0)
  })
})
