// @vitest-environment node
/**
 * The simulator's recovery window (options.ts) is built from the SDK's time budgets: when the
 * core changes one of them, this test says which constant of the simulator to update. It reads
 * the SDK's budgets where they are kept: src/timing.ts for the main bundle, and the chunks' own
 * (src/renewal.ts, src/cross-tab/timing.ts).
 */
import { describe, expect, it } from 'vitest'
import * as tabs from '../../src/cross-tab/timing.js'
import * as renewal from '../../src/renewal.js'
import { SESSION_RENEWAL_WAIT } from '../../src/resource-tokens.js'
import * as sdk from '../../src/timing.js'
import { HELLO_WAIT, LOCK_WAIT, MAX_BACKOFF, RENEWAL_BUDGET, RETRY_AFTER_CAP } from './options.js'

describe("the simulator's time budgets", () => {
  it("cover the SDK's", () => {
    expect(LOCK_WAIT).toBe(tabs.LOCK_WAIT)
    expect(RENEWAL_BUDGET).toBe(
      renewal.DRAIN_WAIT + 3 * sdk.REQUEST_TIMEOUT + 2 * renewal.MAX_PAUSE_IN_RENEWAL,
    )
    expect(MAX_BACKOFF).toBe(sdk.MAX_PAUSE)
    expect(RETRY_AFTER_CAP).toBe(sdk.MAX_RETRY_AFTER)
    expect(HELLO_WAIT).toBe(tabs.HELLO_WAIT)
  })

  it("keep the cross-tab chunk's budgets in step with the main bundle's", () => {
    // A sibling's renewal is waited for as long as this tab's own (INFLIGHT_WAIT).
    expect(tabs.SIBLING_RENEWAL_LAPSE).toBe(sdk.INFLIGHT_WAIT)
    // A resource's renewal waits for the session's as long as a call does.
    expect(SESSION_RENEWAL_WAIT).toBe(sdk.INFLIGHT_WAIT)
  })
})
