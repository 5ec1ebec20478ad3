/**
 * Whatever the storage slot `freshtoken:<clientId>` holds (any string, JSON junk, a stored session
 * with members missing, retyped or added, values that are not strings at all), a client starts
 * without throwing, with no session or a well-formed one taken from that entry, and never sends a
 * token to an origin outside `apiOrigins`.
 */

import fc from 'fast-check'
import { createTokenClient, type TokenClient, type TokenStorage } from 'freshtoken'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { decodeSession } from '../../src/storage.js'
import { API_ORIGIN, CLIENT_ID, useMockEnvironment } from '../mocks/setup.js'
import { settle, T0 } from '../mocks/time.js'
import {
  anyNumber,
  anyString,
  buildObject,
  edits,
  junk,
  memberValue,
  scopeValue,
  secretCore,
} from './arbitraries.js'
import { expectAuthError, expectTokenSetShape, RUNS, serveWithCors } from './helpers.js'

const { mock, server } = useMockEnvironment({ accessTokenLifetime: 3_600_000 })

const KEY = `freshtoken:${CLIENT_ID}`
/** Origins outside `apiOrigins`, look-alikes included; each answers any request with a 401. */
const FOREIGN = [
  'https://evil.example.net',
  'https://api.example.com.evil.net',
  'https://api.example.com:8443',
]

let auth: TokenClient | undefined
beforeEach(() => {
  vi.useFakeTimers({ now: T0 })
})
afterEach(() => {
  auth?.dispose()
  localStorage.clear()
  vi.useRealTimers()
})

/** What a stored entry holds, and the token values a client could take from it. */
interface Entry {
  readonly raw: unknown
  readonly accessToken?: unknown
}

/** Token values as freshtoken stores them: header-safe, distinctive. */
const storedToken = secretCore.map((core) => `at_${core}`)

/**
 * An entry in the shape freshtoken writes, then edited: version, tokens and their members missing,
 * retyped or joined by prototype-ish keys.
 */
const editedEntry: fc.Arbitrary<Entry> = fc
  .record({
    v: fc.oneof({ weight: 4, arbitrary: fc.constant(1) }, fc.constantFrom(0, 2, '1', null), junk),
    accessToken: fc.oneof({ weight: 4, arbitrary: storedToken }, fc.constant(''), memberValue),
    tokenType: fc.oneof(
      { weight: 4, arbitrary: fc.constant('Bearer') },
      fc.constantFrom('bearer', 'DPoP'),
      memberValue,
    ),
    refreshToken: fc.option(fc.oneof(storedToken, memberValue), { nil: undefined }),
    expiresAt: fc.option(
      fc.oneof(fc.integer({ min: T0 - 86_400_000, max: T0 + 86_400_000 }), anyNumber, memberValue),
      { nil: undefined },
    ),
    scope: fc.option(fc.oneof(scopeValue, memberValue), { nil: undefined }),
    lifetime: fc.option(fc.oneof(fc.nat(3_600_000), anyNumber, memberValue), { nil: undefined }),
    revision: fc.option(fc.oneof(fc.nat(), anyNumber, memberValue), { nil: undefined }),
    tokenEdits: fc.oneof(
      fc.constant([]),
      edits(['accessToken', 'tokenType', 'refreshToken', 'expiresAt', 'scope', 'idToken']),
    ),
    entryEdits: fc.oneof(fc.constant([]), edits(['v', 'tokens', 'lifetime', 'revision'])),
  })
  .map((e) => {
    const tokens = buildObject(
      {
        accessToken: e.accessToken,
        tokenType: e.tokenType,
        refreshToken: e.refreshToken,
        expiresAt: e.expiresAt,
        scope: e.scope,
      },
      e.tokenEdits,
    )
    const entry = buildObject(
      { v: e.v, tokens, lifetime: e.lifetime, revision: e.revision },
      e.entryEdits,
    )
    return { raw: jsonText(entry), accessToken: tokens.accessToken }
  })

function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? ''
  } catch {
    return ''
  }
}

/** Any entry: edited sessions, any string, JSON junk, or a value a custom store should not return. */
const anyEntry: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 4, arbitrary: editedEntry },
  { weight: 1, arbitrary: anyString.map((raw) => ({ raw })) },
  { weight: 1, arbitrary: fc.jsonValue().map((value) => ({ raw: jsonText(value) })) },
  {
    // A custom store handing back something other than a string (its bug, not ours to crash on).
    weight: 1,
    arbitrary: fc.oneof(junk, anyNumber).map((raw) => ({ raw })),
  },
)

type Where = 'local' | 'custom' | 'custom-async'

/** A custom store over a Map, sync or async, that hands back `raw` as it is. */
function customStorage(raw: unknown, async: boolean): TokenStorage {
  const data = new Map<string, unknown>([[KEY, raw]])
  const get = (key: string) => data.get(key) as string | undefined
  return {
    get: async ? async (key) => get(key) : get,
    set: (key, value) => void data.set(key, value),
    remove: (key) => void data.delete(key),
  }
}

/** What the client reads from the slot: `raw`, or its JSON text when it went to localStorage. */
function written(entry: Entry, where: Where): unknown {
  return where !== 'local' || typeof entry.raw === 'string' ? entry.raw : jsonText(entry.raw)
}

/**
 * The tokens a stored entry holds, if it is in freshtoken's format (version 1, Bearer, numeric
 * lifetime and revision), for comparison with a restored session; `undefined` for anything else.
 */
/** The token types a stored session may hold: a DPoP client's tokens are bound (RFC 9449). */
const STORED_TYPES = ['Bearer', 'DPoP']

function storedTokens(raw: unknown): Record<string, unknown> | undefined {
  if (typeof raw !== 'string') return undefined
  let data: { v?: unknown; tokens?: Record<string, unknown> | null } | null
  try {
    data = JSON.parse(raw)
  } catch {
    return undefined
  }
  if (data?.v !== 1 || typeof data.tokens !== 'object' || data.tokens === null) return undefined
  if (!STORED_TYPES.includes(data.tokens.tokenType as string)) return undefined
  // What the schedule and the tabs read besides the tokens: numbers, when present.
  const { lifetime, revision } = data as { lifetime?: unknown; revision?: unknown }
  if (![lifetime, revision].every((n) => n === undefined || typeof n === 'number')) return undefined
  const members = ['accessToken', 'tokenType', 'refreshToken', 'expiresAt', 'scope', 'idToken']
  return Object.fromEntries(
    members.flatMap((key) => {
      const value = (data.tokens as Record<string, unknown>)[key]
      return value === undefined ? [] : [[key, value]]
    }),
  )
}

function startClient(entry: Entry, where: Where, crossTab: boolean): TokenClient {
  let storage: 'local' | TokenStorage = 'local'
  if (where === 'local') {
    localStorage.setItem(KEY, written(entry, where) as string)
  } else {
    storage = customStorage(entry.raw, where === 'custom-async')
  }
  const client = createTokenClient({
    clientId: CLIENT_ID,
    tokenEndpoint: mock.endpoints.token,
    apiOrigins: [API_ORIGIN],
    storage,
    crossTab,
  })
  auth = client
  return client
}

/** What reached the network outside the API origins. */
interface Sent {
  readonly url: string
  readonly authorization: string | null
  readonly body: string
}

/** Records every request msw sees, preflights aside; `read()` waits for their bodies. */
function recordRequests(): { read(): Promise<Sent[]> } {
  const pending: Promise<Sent>[] = []
  server.events.on('request:start', ({ request }) => {
    if (request.method === 'OPTIONS') return
    const authorization = request.headers.get('Authorization')
    pending.push(
      request
        .clone()
        .text()
        .then((body) => ({ url: request.url, authorization, body })),
    )
  })
  return { read: () => Promise.all(pending) }
}

const where = fc.constantFrom<Where>('local', 'custom', 'custom-async')

describe('a client started on any stored entry', () => {
  it('never throws, and has no session or one made of that entry', async () => {
    await fc.assert(
      fc.asyncProperty(anyEntry, where, fc.boolean(), async (entry, kind, crossTab) => {
        let client: TokenClient | undefined
        expect(() => {
          client = startClient(entry, kind, crossTab)
        }).not.toThrow()
        const started = client as TokenClient
        // getAccessToken waits for an async store; it renews an expired token (and the mock
        // does not know these refresh tokens: invalid_grant), or rejects without a session.
        const result = await settle(started.getAccessToken())
        const tokens = started.tokens
        if (result.status === 'rejected') {
          expectAuthError(result.reason, ['no_session', 'session_expired'])
        } else {
          expect(result.value).toBe(entry.accessToken)
        }
        if (tokens !== null) {
          expectTokenSetShape(tokens, STORED_TYPES)
          // Restored as stored, from an entry in freshtoken's format and nothing else.
          expect(tokens).toStrictEqual(storedTokens(written(entry, kind)))
        }
      }),
      {
        numRuns: RUNS.client,
        plugins: [
          fc.afterEach(() => {
            auth?.dispose()
            localStorage.clear()
          }),
        ],
      },
    )
  })

  it('never sends a token to an origin outside apiOrigins', async () => {
    await fc.assert(
      fc.asyncProperty(editedEntry, where, fc.boolean(), async (entry, kind, crossTab) => {
        for (const origin of FOREIGN) {
          serveWithCors(server, `${origin}/*`, () => new Response('no', { status: 401 }))
        }
        const recorder = recordRequests()
        const client = startClient(entry, kind, crossTab)
        try {
          const foreign = FOREIGN.map((origin) => client.fetch(`${origin}/data`))
          const own = client.fetch(`${API_ORIGIN}/me`)
          const settled = await settle(Promise.allSettled([own, ...foreign]))
          const [result] = settled.status === 'fulfilled' ? settled.value : []
          // Other origins' answers are not freshtoken's business; the API call's failures are.
          if (result?.status === 'rejected') expectAuthError(result.reason)
          const sent = await recorder.read()
          for (const request of sent) {
            const { origin } = new URL(request.url)
            if (origin === API_ORIGIN) continue
            expect(request.authorization, request.url).toBeNull()
            if (typeof entry.accessToken === 'string' && entry.accessToken.length >= 24) {
              expect(`${request.url}\n${request.body}`).not.toContain(entry.accessToken)
            }
          }
          expect(
            sent.filter((request) => FOREIGN.includes(new URL(request.url).origin)),
          ).toHaveLength(FOREIGN.length)
        } finally {
          client.dispose()
          server.events.removeAllListeners()
          server.resetHandlers()
          mock.reset()
          localStorage.clear()
        }
      }),
      { numRuns: RUNS.network },
    )
  })
})

/**
 * The decoder itself also reads what sibling tabs post. There a throw would escape the channel's
 * message handler as an error on the page, where the session's own catch does not reach.
 */
describe('decodeSession', () => {
  it('returns null or a session made of the entry for any value, and never throws', () => {
    fc.assert(
      fc.property(anyEntry, (entry) => {
        const decoded = decodeSession(entry.raw)
        if (decoded !== null) {
          expectTokenSetShape(decoded.tokens, STORED_TYPES)
          expect(decoded.tokens).toStrictEqual(storedTokens(entry.raw))
        }
      }),
      { numRuns: RUNS.pure },
    )
  })

  it.each([
    ['JSON null', 'null'],
    ['a number', '7'],
    ['tokens that are null', '{"v":1,"tokens":null}'],
    ['tokens that are a string', '{"v":1,"tokens":"at_x"}'],
  ])('returns null for %s', (_, raw) => {
    expect(decodeSession(raw)).toBeNull()
  })
})
