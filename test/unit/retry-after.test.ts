/** parseRetryAfter: both forms of RFC 9110 §10.2.3, and what is neither. */
import { describe, expect, it } from 'vitest'
import { parseRetryAfter } from '../../src/retry-after.js'

const NOW = Date.UTC(2026, 11, 6, 12)

describe('parseRetryAfter', () => {
  it('reads delay-seconds, surrounding spaces allowed', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000)
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120_000)
    expect(parseRetryAfter('0', NOW)).toBe(0)
  })

  it('reads an HTTP-date as the time left until it, 0 for one in the past', () => {
    expect(parseRetryAfter('Sun, 06 Dec 2026 12:02:00 GMT', NOW)).toBe(120_000)
    expect(parseRetryAfter('Sun, 06 Dec 2026 11:00:00 GMT', NOW)).toBe(0)
  })

  it.each([
    ['absent', null],
    ['empty', ''],
    ['blank', '   '],
    ['digits and a word', '120abc'],
    ['a unit', '120 s'],
    ['a fraction', '1.5'],
    ['a negative number', '-5'],
    ['an exponent', '1e3'],
  ])('gives undefined for a header that is %s', (_, header) => {
    expect(parseRetryAfter(header, NOW)).toBeUndefined()
  })
})
