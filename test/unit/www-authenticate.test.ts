import { describe, expect, it } from 'vitest'
import { readBearerError } from '../../src/www-authenticate.js'

describe('readBearerError', () => {
  it.each([
    ['Bearer realm="api", error="invalid_token", error_description="expired"', 'invalid_token'],
    ['Bearer error="insufficient_scope", scope="read write"', 'insufficient_scope'],
    ['bearer error=insufficient_scope', 'insufficient_scope'],
    ['Bearer realm="a, b", error="invalid_token"', 'invalid_token'],
    [
      'Bearer error_description="say \\"error=insufficient_scope\\"", error="invalid_token"',
      'invalid_token',
    ],
    ['Basic realm="x", Bearer error="insufficient_scope"', 'insufficient_scope'],
    ['Basic realm="x", error="insufficient_scope", Bearer realm="y"', undefined],
    ['DPoP error="invalid_token", Bearer realm="y"', undefined],
    ['Bearer', undefined],
    // Parameters before any scheme belong to no challenge.
    ['error="insufficient_scope"', undefined],
    ['Bearer realm="api"', undefined],
  ])('reads %s as %s', (header, expected) => {
    expect(readBearerError(header)).toBe(expected)
  })

  it('returns undefined when the header is absent (not exposed cross-origin)', () => {
    expect(readBearerError(null)).toBeUndefined()
  })
})
