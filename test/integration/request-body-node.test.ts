// @vitest-environment node
/**
 * Request bodies under the fetch of Node (undici), which, like a browser, marks a `Request`'s body
 * used once a request is made from it. happy-dom does not, so the replay of a body on the retry
 * after a 401 is checked here against a `fetch` that builds a real `Request` from its arguments.
 */
import { afterEach, expect, it } from 'vitest'
import { STUB_API as API, createStubbedClient } from '../mocks/stub-client.js'

let dispose = (): void => undefined
afterEach(() => dispose())

/** A stubbed client whose API answers 401 first, then 200; it records the bodies it received. */
function withApiThatRejectsOnce() {
  const bodies: string[] = []
  const { auth } = createStubbedClient(async (request) => {
    bodies.push(await request.text())
    return bodies.length === 1
      ? new Response(null, {
          status: 401,
          headers: { 'WWW-Authenticate': 'Bearer error="invalid_token"' },
        })
      : new Response('ok')
  })
  dispose = () => auth.dispose()
  return { auth, bodies }
}

it.each([
  ['a Request with a body', () => [new Request(`${API}/items`, { method: 'POST', body: 'a=1' })]],
  [
    // fetch reads a null init.body as "no replacement": the Request's body is sent.
    'a Request with a body and init.body null',
    () => [new Request(`${API}/items`, { method: 'POST', body: 'a=1' }), { body: null }],
  ],
  ['a string body', () => [`${API}/items`, { method: 'POST', body: 'a=1' }]],
] as const)('sends the same body from %s on the retry after a 401', async (_, args) => {
  const { auth, bodies } = withApiThatRejectsOnce()
  const [input, init] = args() as [RequestInfo, RequestInit?]

  const response = await auth.fetch(input, init)

  expect(response.status).toBe(200)
  expect(bodies).toEqual(['a=1', 'a=1'])
})
