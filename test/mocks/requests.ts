/** Observing what reached msw, shared by the integration tests. */
import { http } from 'msw'
import type { SetupServer } from 'msw/node'
import { API_ORIGIN } from './setup.js'

/**
 * Calls `listener` with every request msw receives (`request:start`), CORS preflights excluded.
 * @returns a function that stops listening
 */
export function onRequest(server: SetupServer, listener: (request: Request) => void): () => void {
  const handle = ({ request }: { request: Request }) => {
    if (request.method !== 'OPTIONS') listener(request)
  }
  server.events.on('request:start', handle)
  return () => server.events.removeListener('request:start', handle)
}

/** What {@link recordRequestBodies} returns. */
export interface BodyRecorder<T> {
  /** Waits for the bodies of the requests seen so far, then returns the records. */
  read(): Promise<T[]>
  /** Stops recording. */
  stop(): void
}

/**
 * Records every non-preflight request that `match` accepts, bodies included: `describe` gets a
 * copy of the request taken when msw received it, and its body as text.
 */
export function recordRequestBodies<T>(
  server: SetupServer,
  match: (request: Request) => boolean,
  describe: (request: Request, body: string) => T,
): BodyRecorder<T> {
  const seen: T[] = []
  const pending: Promise<void>[] = []
  const stop = onRequest(server, (request) => {
    if (!match(request)) return
    const copy = request.clone()
    pending.push(
      copy.text().then((body) => {
        seen.push(describe(copy, body))
      }),
    )
  })
  return {
    async read() {
      await Promise.all(pending)
      return seen
    },
    stop,
  }
}

/** What one attempt carried to the API. */
export interface Attempt {
  readonly method: string
  readonly authorization: string | null
  readonly contentType: string | null
  readonly body: string
}

/** Records the attempts to one path of the mock API; see {@link attemptRecorder}. */
export type RecordAttempts<A> = (path: string) => A[]

/**
 * Makes a `recordAttempts(path)` that records every non-preflight request to `path` on the mock
 * API (as an {@link Attempt}), then lets the mock answer it, and returns the live list.
 *
 * @param server - the msw server the recording handler is added to (`server.use()`)
 * @param fields - the members of {@link Attempt} to keep (all of them by default)
 */
export function attemptRecorder(server: SetupServer): RecordAttempts<Attempt>
export function attemptRecorder<K extends keyof Attempt>(
  server: SetupServer,
  fields: readonly K[],
): RecordAttempts<Pick<Attempt, K>>
export function attemptRecorder(
  server: SetupServer,
  fields?: readonly (keyof Attempt)[],
): RecordAttempts<Partial<Attempt>> {
  return (path) => {
    const attempts: Partial<Attempt>[] = []
    server.use(
      http.all(`${API_ORIGIN}${path}`, async ({ request }) => {
        if (request.method === 'OPTIONS') return
        const attempt: Attempt = {
          method: request.method,
          authorization: request.headers.get('Authorization'),
          contentType: request.headers.get('Content-Type'),
          body: await request.clone().text(),
        }
        attempts.push(
          fields ? Object.fromEntries(fields.map((field) => [field, attempt[field]])) : attempt,
        )
      }),
    )
    return attempts
  }
}
