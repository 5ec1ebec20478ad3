import { describe, expect, it } from 'vitest'
import { base64url, challengeOf, randomValue } from '../../../src/login/pkce.js'

describe('PKCE (RFC 7636)', () => {
  it('derives the S256 challenge of the verifier in RFC 7636 Appendix B', async () => {
    expect(await challengeOf('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    )
  })

  it('draws 43-character base64url verifiers from the CSPRNG, never the same twice', () => {
    const drawn = new Set(Array.from({ length: 200 }, randomValue))
    expect(drawn.size).toBe(200)
    for (const value of drawn) expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('encodes base64url without padding, with - and _ for + and /', () => {
    expect(base64url(new Uint8Array([0xfb, 0xff, 0xfe]))).toBe('-__-')
    expect(base64url(new Uint8Array([1]))).toBe('AQ')
  })
})
