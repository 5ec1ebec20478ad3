import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { type Attempt, createAttempts } from '../../../src/login/attempts.js'

const NOW = Date.UTC(2026, 11, 7, 12)

function attempt(state: string): Attempt {
  return {
    state,
    verifier: `verifier-${state}`,
    nonce: undefined,
    redirectUri: 'https://app.example.com/callback',
    appState: { returnTo: '/x' },
    createdAt: Date.now(),
  }
}

describe('sign-in attempts kept across the redirect', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: NOW })
    sessionStorage.clear()
  })
  afterEach(() => {
    vi.useRealTimers()
    sessionStorage.clear()
  })

  it('gives an attempt back once, by its state, and keeps the others', () => {
    const attempts = createAttempts('spa')
    attempts.save(attempt('a'))
    attempts.save(attempt('b'))
    expect(attempts.take('a')).toEqual(attempt('a'))
    expect(attempts.take('a')).toBeUndefined()
    expect(createAttempts('spa').take('b')?.verifier).toBe('verifier-b')
    expect(sessionStorage.length).toBe(0)
  })

  it('keeps the attempts of two clients apart', () => {
    createAttempts('spa').save(attempt('a'))
    expect(createAttempts('other').take('a')).toBeUndefined()
    expect(createAttempts('spa').take('a')).toBeDefined()
  })

  it('forgets an attempt 10 minutes after it started', () => {
    createAttempts('spa').save(attempt('a'))
    createAttempts('spa').save(attempt('b'))
    vi.advanceTimersByTime(599_999)
    expect(createAttempts('spa').take('a')).toBeDefined()
    vi.advanceTimersByTime(1)
    expect(createAttempts('spa').take('b')).toBeUndefined()
  })

  it('finds nothing for no state, an inherited name, or an unreadable entry', () => {
    const attempts = createAttempts('spa')
    attempts.save(attempt('a'))
    expect(attempts.take(null)).toBeUndefined()
    expect(attempts.take('__proto__')).toBeUndefined()
    expect(attempts.take('toString')).toBeUndefined()
    sessionStorage.setItem('freshtoken:login:spa', '{not json')
    expect(attempts.take('a')).toBeUndefined()
  })

  it('ignores entries of another shape', () => {
    sessionStorage.setItem('freshtoken:login:spa', JSON.stringify({ a: 5, b: null }))
    expect(createAttempts('spa').take('a')).toBeUndefined()
    expect(createAttempts('spa').take('b')).toBeUndefined()
  })
})
