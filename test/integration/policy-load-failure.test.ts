/**
 * The 401 policy is a lazy chunk, loaded at the first 401. When it cannot be loaded (the page's
 * own server is unreachable, a deploy removed the old chunk), the call gets its 401 `Response` as
 * it is and the session is kept; the next 401 tries to load it again.
 */
import { afterEach, expect, it, vi } from 'vitest'
import { STUB_API as API, createStubbedClient } from '../mocks/stub-client.js'

let loads = 0
vi.mock('../../src/rejection-policy.js', async (importOriginal) => {
  loads++
  if (loads === 1) {
    throw new Error('Failed to fetch dynamically imported module: /assets/rejection-policy-x.js')
  }
  return importOriginal()
})

let dispose = (): void => undefined
afterEach(() => dispose())

it('returns the 401 when the policy cannot be loaded, and loads it at the next 401', async () => {
  const { auth, sent } = createStubbedClient((request) =>
    request.headers.get('authorization') === 'Bearer at-2'
      ? new Response('ok')
      : new Response(null, { status: 401, headers: { 'WWW-Authenticate': 'Bearer' } }),
  )
  dispose = () => auth.dispose()

  const first = await auth.fetch(`${API}/me`)

  expect(first.status).toBe(401)
  expect(sent).toEqual(['Bearer at-1'])
  expect(auth.tokens?.accessToken).toBe('at-1')

  const second = await auth.fetch(`${API}/me`)

  expect(second.status).toBe(200)
  expect(sent).toEqual(['Bearer at-1', 'Bearer at-1', 'token', 'Bearer at-2'])
  expect(loads).toBe(2)
})
