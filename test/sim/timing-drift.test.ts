// @vitest-environment node
/**
 * The simulator's recovery window (options.ts) is built from the SDK's time budgets: when the
 * core changes one of them, this test says which constant of the simulator to update. It reads
 * src/timing.ts directly, the one place the SDK keeps its budgets.
 */
import { describe, expect, it } from 'vitest'
import * as sdk from '../../src/timing.js'
import { HELLO_WAIT, LOCK_WAIT, MAX_BACKOFF, RENEWAL_BUDGET, RETRY_AFTER_CAP } from './options.js'

describe("the simulator's time budgets", () => {
  it("cover the SDK's", () => {
    expect(LOCK_WAIT).toBe(sdk.LOCK_WAIT)
    expect(RENEWAL_BUDGET).toBe(
      sdk.DRAIN_WAIT + 3 * sdk.REQUEST_TIMEOUT + 2 * sdk.MAX_PAUSE_IN_RENEWAL,
    )
    expect(MAX_BACKOFF).toBe(sdk.MAX_PAUSE)
    expect(RETRY_AFTER_CAP).toBe(sdk.MAX_RETRY_AFTER)
    expect(HELLO_WAIT).toBe(sdk.HELLO_WAIT)
  })
})
