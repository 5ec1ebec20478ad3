/**
 * redactTokens on the echoes a server may write: the forms the integration tests reach through
 * the public API (test/integration/error-classification.test.ts) and the edges of reading HTML
 * character references, where a wrong bound would throw or invent characters.
 */
import { describe, expect, it } from 'vitest'
import { redactTokens } from '../../src/redact.js'

const TOKEN = 'rt/a+b c"d'

describe('redactTokens', () => {
  it.each([
    ['raw', TOKEN],
    ['form-encoded (+ for a space)', 'rt%2Fa%2Bb+c%22d'],
    ['form-encoded in lower-case hex', 'rt%2fa%2bb+c%22d'],
    ['percent-encoded (%20 for a space)', 'rt%2Fa%2Bb%20c%22d'],
    ['JSON-escaped', 'rt/a+b c\\"d'],
    ['JSON-escaped with \\/', 'rt\\/a+b c\\"d'],
    ['HTML-escaped by name', 'rt/a+b c&quot;d'],
    ['HTML-escaped in decimal', 'rt/a+b c&#34;d'],
    ['HTML-escaped in lower-case hex', 'rt/a+b c&#x22;d'],
    ['HTML-escaped in upper-case hex', 'rt/a+b c&#X22;d'],
  ])('removes the token echoed %s', (_, echo) => {
    expect(redactTokens(`invalid refresh_token=${echo}.`, [TOKEN])).toBe(
      'invalid refresh_token=[redacted].',
    )
  })

  it('removes every token given, skipping absent ones', () => {
    expect(redactTokens('a=AT r=RT', ['AT', undefined, 'RT'])).toBe('a=[redacted] r=[redacted]')
  })

  it('treats an empty token as absent rather than redacting between every character', () => {
    expect(redactTokens('abc', [''])).toBe('abc')
  })

  it('reads the highest code point a reference can name', () => {
    expect(redactTokens('&#x10FFFF;', [])).toBe('\u{10FFFF}')
  })

  it.each([['&#0;'], ['&#x0;'], ['&#x110000;'], ['&#99999999;']])(
    'leaves %s, which names no character, as written',
    (reference) => {
      expect(redactTokens(`x ${reference} y`, [])).toBe(`x ${reference} y`)
    },
  )
})
