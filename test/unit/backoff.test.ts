/**
 * The pause a sibling tab announces ('backoff' message) as this tab takes it over: the mutation
 * run found follow() untested outside the happy path (late, oversized or malformed announcements).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Backoff } from '../../src/backoff.js'
import { TokenEndpointUnavailableError } from '../../src/errors.js'

const NOW = Date.UTC(2026, 11, 6, 12)
const TEN_MINUTES = 600_000

describe('Backoff.follow: a pause announced by a sibling tab', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('takes a later pause and the count of failures behind it', () => {
    const backoff = new Backoff()
    backoff.follow(NOW + 5_000, 2)
    expect(backoff).toMatchObject({ until: NOW + 5_000, failures: 2 })
  })

  it('caps a pause at 10 minutes from now, however far the sibling put it', () => {
    const backoff = new Backoff()
    backoff.follow(NOW + 3_600_000, 1)
    expect(backoff.until).toBe(NOW + TEN_MINUTES)
  })

  it('ignores a pause that ends no later than the one already running', () => {
    const backoff = new Backoff()
    backoff.follow(NOW + 5_000, 1)
    backoff.follow(NOW + 5_000, 4)
    backoff.follow(NOW + 1_000, 4)
    expect(backoff).toMatchObject({ until: NOW + 5_000, failures: 1 })
  })

  it('ignores an announcement whose failure count is not a number', () => {
    const backoff = new Backoff()
    backoff.follow(NOW + 5_000, '3')
    backoff.follow(NOW + 5_000, undefined)
    expect(backoff).toMatchObject({ until: 0, failures: 0 })
    expect(backoff.paused).toBeUndefined()
  })

  it('keeps the higher failure count, so the next pause of its own still doubles', () => {
    const backoff = new Backoff()
    backoff.follow(NOW + 5_000, 3)
    backoff.follow(NOW + 9_000, 1)
    expect(backoff).toMatchObject({ until: NOW + 9_000, failures: 3 })
  })

  it("answers calls during a sibling's pause with a failure that says where it came from", () => {
    const backoff = new Backoff()
    backoff.failed(new TokenEndpointUnavailableError('token endpoint answered HTTP 503', 503))
    backoff.follow(backoff.until + 10_000, 2)
    const paused = backoff.paused
    expect(paused).toBeInstanceOf(TokenEndpointUnavailableError)
    expect(paused?.message).toBe('a token request in another tab failed')
    // The same failure for every call of the pause, and none once it is over.
    expect(backoff.paused).toBe(paused)
    vi.setSystemTime(backoff.until)
    expect(backoff.paused).toBeUndefined()
  })
})
