/** Client harness shared by the integration tests: clients disposed after each test, fake timers, events. */
import {
  createTokenClient,
  type TokenClient,
  type TokenClientEvents,
  type TokenClientOptions,
} from 'freshtoken'
import { afterEach, beforeEach, vi } from 'vitest'

/** How {@link useClients} sets up and tears down each test. */
export interface ClientHarnessOptions {
  /**
   * Fake timers: an epoch-ms instant installs `vi.useFakeTimers({ now })` before each test;
   * `'in-test'` leaves installing them to the tests that need them. Either way `vi.useRealTimers()`
   * runs last after each test. Leave it out in a file that never fakes time.
   */
  readonly fakeTimers?: number | 'in-test'
  /** More teardown after each test: after the clients are disposed, before real timers return. */
  readonly teardown?: () => void
}

/** Clients for one test file; see {@link useClients}. */
export interface ClientHarness {
  /** Creates a client from the file's defaults with `options` on top; it is disposed after the test. */
  create(options?: Partial<TokenClientOptions>): TokenClient
  /** Disposes `client`, created some other way, after the test like the others; returns it. */
  track(client: TokenClient): TokenClient
  /** Runs `cleanup` after the current test, before the clients are disposed. */
  onCleanup(cleanup: () => void): void
}

/**
 * Client creation wired into the current test file's lifecycle. After each test, in this order:
 * the cleanups registered with {@link ClientHarness.onCleanup}, `dispose()` of every client
 * created or tracked, `teardown`, and `vi.useRealTimers()` (with `fakeTimers`). Call it once at the top level
 * of a test file, after `useMockEnvironment()` (so that its own reset runs after all of this).
 *
 * @param defaults - the options every client starts from
 * @param options - fake timers and extra teardown
 * @returns the harness
 */
export function useClients(
  defaults: TokenClientOptions,
  { fakeTimers, teardown }: ClientHarnessOptions = {},
): ClientHarness {
  const clients: TokenClient[] = []
  const cleanups: (() => void)[] = []
  if (typeof fakeTimers === 'number') {
    beforeEach(() => {
      vi.useFakeTimers({ now: fakeTimers })
    })
  }
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup()
    for (const auth of clients.splice(0)) auth.dispose()
    teardown?.()
    if (fakeTimers !== undefined) vi.useRealTimers()
  })
  return {
    create(options = {}) {
      const auth = createTokenClient({ ...defaults, ...options })
      clients.push(auth)
      return auth
    },
    track(client) {
      clients.push(client)
      return client
    },
    onCleanup(cleanup) {
      cleanups.push(cleanup)
    },
  }
}

/** Collects every payload of `event` that `auth` fires from now on. */
export function collect<E extends keyof TokenClientEvents>(
  auth: TokenClient,
  event: E,
): TokenClientEvents[E][] {
  const seen: TokenClientEvents[E][] = []
  auth.on(event, (payload) => seen.push(payload))
  return seen
}

/** Resolves with the payload of the next `event`. */
export function nextEvent<E extends keyof TokenClientEvents>(
  auth: TokenClient,
  event: E,
): Promise<TokenClientEvents[E]> {
  return new Promise((resolve) => {
    const off = auth.on(event, (payload) => {
      off()
      resolve(payload)
    })
  })
}
