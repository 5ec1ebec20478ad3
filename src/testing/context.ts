import { delay } from 'msw'
import type { CookieJar } from './cookie-jar.js'
import type { CorsPolicy } from './cors.js'
import type { MockRecorder } from './counters.js'
import type { DPoPServer } from './dpop-server.js'
import { type FaultQueue, faultResponse, type MockFault, type MockFaultTarget } from './faults.js'
import type { ResolvedMockOptions } from './options.js'
import type { TokenStore } from './token-store.js'

/** Everything the mock's handlers share. Not part of the public surface. */
export interface MockContext {
  readonly options: ResolvedMockOptions
  readonly cors: CorsPolicy
  readonly store: TokenStore
  readonly faults: FaultQueue
  readonly recorder: MockRecorder
  /** The browser's cookies for the session backend (see {@link CookieJar}). */
  readonly jar: CookieJar
  /** The user's session at the authorization server, which `prompt=none` depends on. */
  readonly provider: { signedIn: boolean }
  /** Nonces and seen `jti`s of DPoP (RFC 9449), `null` without the `dpop` option. */
  readonly dpop: DPoPServer | null
}

/** What a handler answered, and with which fault. */
export interface Answer<T> {
  /** The response the client receives. */
  readonly response: Response
  /** The fault that shaped it, `null` when none. */
  readonly fault: MockFault['type'] | null
  /** What the server did, `null` when a fault answered before the server saw the request. */
  readonly outcome: T | null
}

/**
 * Runs one request through the fault queue of its target: a fault either answers instead of the
 * server, delays it, or (with `afterProcessing`) replaces the server's answer after it acted.
 *
 * @param context - the mock's shared state
 * @param target - the endpoint the request reached
 * @param handle - the server's own processing, returning its response and outcome
 * @returns what the client receives
 */
export async function answerWithFaults<T extends { readonly response: Response }>(
  context: MockContext,
  target: MockFaultTarget,
  handle: () => Promise<T>,
): Promise<Answer<T>> {
  const fault = context.faults.take(target)
  if (fault === null) {
    const outcome = await handle()
    return { response: outcome.response, fault: null, outcome }
  }
  context.recorder.counters.faults += 1
  if (fault.type === 'latency') {
    // msw's delay() is a plain setTimeout, so vitest fake timers advance it.
    if (!fault.afterProcessing) await delay(fault.ms)
    const outcome = await handle()
    if (fault.afterProcessing) await delay(fault.ms)
    return { response: outcome.response, fault: fault.type, outcome }
  }
  const outcome = fault.afterProcessing ? await handle() : null
  return { response: faultResponse(fault), fault: fault.type, outcome }
}
