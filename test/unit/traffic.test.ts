/** Traffic: a renewal waits until every call sent with the current token has been answered. */
import { describe, expect, it } from 'vitest'
import { Traffic } from '../../src/traffic.js'

/** Whether `promise` has settled once the microtasks queued so far have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false
  void promise.then(() => {
    done = true
  })
  await new Promise((resolve) => setTimeout(resolve, 0))
  return done
}

describe('Traffic', () => {
  it('is idle at once when no call is in flight', async () => {
    expect(await settled(new Traffic().idle())).toBe(true)
  })

  it('becomes idle only when the last call in flight is answered', async () => {
    const traffic = new Traffic()
    traffic.pending += 2
    const idle = traffic.idle()
    traffic.done()
    expect(await settled(idle)).toBe(false)
    traffic.done()
    expect(await settled(idle)).toBe(true)
    expect(traffic.pending).toBe(0)
  })

  it('releases every waiter once, and a later wait waits for later calls', async () => {
    const traffic = new Traffic()
    traffic.pending++
    const first = traffic.idle()
    const second = traffic.idle()
    traffic.done()
    expect([await settled(first), await settled(second)]).toEqual([true, true])
    traffic.pending++
    const third = traffic.idle()
    expect(await settled(third)).toBe(false)
    traffic.done()
    expect(await settled(third)).toBe(true)
  })
})
