/**
 * The common call: a token at hand, a URL string, no headers of its own. It is sent in the same
 * turn, without parsing its URL (the origin check reads the string), and reaches the app's `fetch`
 * as the app gave it, with `Authorization` added. Every other shape still gets the full checks.
 * The app's `fetch` here is a stub that records its arguments; no network is involved.
 */
import { createTokenClient, type TokenClient } from 'freshtoken'
import { afterEach, describe, expect, it, vi } from 'vitest'

const API = 'https://api.example.com'
const ACCESS_TOKEN = 'at-hot-path'

const clients: TokenClient[] = []
afterEach(() => {
  for (const client of clients.splice(0)) client.dispose()
  vi.unstubAllGlobals()
})

/** A client whose `fetch` records its arguments and answers 200; it holds a valid token. */
function signedIn() {
  const fetch = vi.fn((_input: RequestInfo | URL, _init?: RequestInit) =>
    Promise.resolve(new Response('ok')),
  )
  const auth = createTokenClient({
    clientId: 'spa',
    tokenEndpoint: 'https://auth.example.com/token',
    apiOrigins: [API],
    crossTab: false,
    fetch,
  })
  clients.push(auth)
  auth.setTokens({ access_token: ACCESS_TOKEN, token_type: 'Bearer', expires_in: 3600 })
  return { auth, fetch }
}

/** Counts the URLs parsed with the global `URL` constructor from now on. */
function countUrlParsing(): { readonly count: number } {
  const counter = { count: 0 }
  const Parsing = class extends URL {
    constructor(url: string | URL, base?: string | URL) {
      super(url, base)
      counter.count++
    }
  }
  vi.stubGlobal('URL', Parsing)
  return counter
}

/** The `Authorization` header of the `index`th call the stub received. */
function authorizationOf(fetch: ReturnType<typeof signedIn>['fetch'], index = 0): string | null {
  const [input, init] = fetch.mock.calls[index] ?? []
  return new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)).get(
    'authorization',
  )
}

describe('a call with a token at hand, a URL string and no headers of its own', () => {
  it.each([
    ['the origin alone', API],
    ['a path', `${API}/me`],
    ['a query', `${API}?page=2`],
    ['a fragment', `${API}#top`],
  ])('is sent in the same turn without parsing the URL: %s', async (_, url) => {
    const { auth, fetch } = signedIn()
    const parsing = countUrlParsing()

    const response = auth.fetch(url)

    expect(fetch).toHaveBeenCalledTimes(1)
    expect(parsing.count).toBe(0)
    expect(fetch.mock.calls[0]?.[0]).toBe(url)
    expect(authorizationOf(fetch)).toBe(`Bearer ${ACCESS_TOKEN}`)
    expect((await response).status).toBe(200)
  })

  it('keeps the fields of init (including ones fetch does not know) and a null body', async () => {
    const { auth, fetch } = signedIn()
    const init = { body: null, cache: 'no-store', next: { revalidate: 60 } } as RequestInit

    await auth.fetch(`${API}/me`, init)

    expect(fetch.mock.calls[0]?.[0]).toBe(`${API}/me`)
    expect(fetch.mock.calls[0]?.[1]).toEqual({
      ...init,
      headers: { authorization: `Bearer ${ACCESS_TOKEN}` },
    })
  })

  it('with a body is sent in the same turn too, as a Request that carries it', async () => {
    const { auth, fetch } = signedIn()

    const response = auth.fetch(`${API}/items`, { method: 'POST', body: 'name=Ada' })

    expect(fetch).toHaveBeenCalledTimes(1)
    const [sent] = fetch.mock.calls[0] ?? []
    expect(sent).toBeInstanceOf(Request)
    expect(authorizationOf(fetch)).toBe(`Bearer ${ACCESS_TOKEN}`)
    expect(await (sent as Request).text()).toBe('name=Ada')
    await response
  })

  it.each([
    ['a look-alike host', `${API}.evil.example/me`],
    ['another port', `${API}:8443/me`],
    ['userinfo', `${API}@evil.example/me`],
  ])('is parsed when the string only starts like an allowed origin: %s', async (_, url) => {
    const { auth, fetch } = signedIn()

    await auth.fetch(url).catch(() => undefined)

    expect(fetch).toHaveBeenCalledWith(url, undefined)
    expect(authorizationOf(fetch)).toBeNull()
  })
})

describe('other shapes, with a token at hand', () => {
  it('a Request without a body reaches fetch as the app’s own object, its headers kept', async () => {
    const { auth, fetch } = signedIn()
    const request = new Request(`${API}/me`, { headers: { Accept: 'application/json' } })

    await auth.fetch(request)

    expect(fetch.mock.calls[0]?.[0]).toBe(request)
    const headers = new Headers(fetch.mock.calls[0]?.[1]?.headers)
    expect(headers.get('accept')).toBe('application/json')
    expect(headers.get('authorization')).toBe(`Bearer ${ACCESS_TOKEN}`)
  })

  it('keeps the call’s own headers beside the token', async () => {
    const { auth, fetch } = signedIn()

    await auth.fetch(`${API}/me`, { headers: { Accept: 'application/json' } })

    const headers = new Headers(fetch.mock.calls[0]?.[1]?.headers)
    expect(headers.get('accept')).toBe('application/json')
    expect(headers.get('authorization')).toBe(`Bearer ${ACCESS_TOKEN}`)
  })

  it.each([
    ['init.headers', () => [`${API}/me`, { headers: { Authorization: 'Basic YWRh' } }]],
    ['a Request', () => [new Request(`${API}/me`, { headers: { Authorization: 'Basic YWRh' } })]],
  ] as const)('passes a call whose %s carry Authorization on untouched', async (_, args) => {
    const { auth, fetch } = signedIn()
    const [input, init] = args() as [RequestInfo, RequestInit?]

    await auth.fetch(input, init)

    expect(fetch).toHaveBeenCalledWith(input, init)
    expect(authorizationOf(fetch)).toBe('Basic YWRh')
  })

  it('passes a URL that cannot be parsed to fetch untouched, which decides', async () => {
    const { auth, fetch } = signedIn()

    await auth.fetch('http://[oops/me')

    expect(fetch).toHaveBeenCalledWith('http://[oops/me', undefined)
  })
})

describe('a relative URL', () => {
  afterEach(() => {
    for (const base of document.querySelectorAll('base')) base.remove()
  })

  it('resolves against the document’s base URL, as fetch resolves it', async () => {
    const base = document.createElement('base')
    base.href = `${API}/v1/`
    document.head.append(base)
    const { auth, fetch } = signedIn()

    await auth.fetch('me')

    expect(document.baseURI).toBe(`${API}/v1/`)
    expect(fetch.mock.calls[0]?.[0]).toBe('me')
    expect(authorizationOf(fetch)).toBe(`Bearer ${ACCESS_TOKEN}`)
  })

  it('resolves against the page without a base element: not the API here', async () => {
    const { auth, fetch } = signedIn()

    await auth.fetch('me')

    expect(new URL(document.baseURI).origin).not.toBe(API)
    expect(fetch).toHaveBeenCalledWith('me', undefined)
  })
})
