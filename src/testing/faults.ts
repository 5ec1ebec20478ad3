import { HttpResponse, type JsonBodyType } from 'msw'
import {
  type OAuthErrorCode,
  oauthErrorResponse,
  reasonPhrase,
  statusForOAuthError,
} from './responses.js'

/**
 * The endpoint a fault applies to. `'backend'` covers the session backend's three endpoints (with
 * the `backend` option).
 */
export type MockFaultTarget = 'token' | 'revocation' | 'discovery' | 'api' | 'backend'

/** Fields every fault accepts. */
export interface MockFaultOptions {
  /**
   * The endpoint whose requests the fault answers. `'discovery'` covers both discovery URLs.
   * CORS preflights are never faulted.
   * @default 'token'
   */
  readonly target?: MockFaultTarget
  /**
   * How many consecutive requests to the target the fault answers; `Infinity` for a lasting
   * outage. Faults queue per target and apply in the order they were injected.
   * @default 1
   */
  readonly times?: number
  /**
   * When true the server processes the request first (rotating, revoking, issuing) and the fault
   * then replaces its answer: a response lost on the way back, the case reuse intervals exist for.
   * For `latency`, decides whether the server acts before or after the delay.
   * @default false
   */
  readonly afterProcessing?: boolean
}

/** Answers with a bare status and a plain-text reason phrase, like a gateway or load balancer. */
export interface StatusFault extends MockFaultOptions {
  readonly type: 'status'
  /** HTTP status, 200–599. */
  readonly status: number
  /**
   * `Retry-After` header value, sent verbatim: delay-seconds (as on the wire, not ms) or an
   * HTTP-date (RFC 9110 §10.2.3).
   */
  readonly retryAfter?: number | string
}

/** Delays the answer, then answers normally. The delay uses msw's `delay`, so fake timers drive it. */
export interface LatencyFault extends MockFaultOptions {
  readonly type: 'latency'
  /** Delay in milliseconds. */
  readonly ms: number
}

/** Answers `Content-Type: application/json` with a truncated, unparsable body. */
export interface MalformedJSONFault extends MockFaultOptions {
  readonly type: 'malformed-json'
  /** @default 200 */
  readonly status?: number
}

/** Answers with an HTML error page, as proxies and captive portals do. */
export interface HTMLFault extends MockFaultOptions {
  readonly type: 'html'
  /** @default 502 */
  readonly status?: number
}

/** Fails the request at the network level: `fetch` rejects. */
export interface NetworkErrorFault extends MockFaultOptions {
  readonly type: 'network-error'
}

/** Answers with an RFC 6749 §5.2 error body (JSON `{ error, error_description }`). */
export interface OAuthErrorFault extends MockFaultOptions {
  readonly type: 'oauth-error'
  /** The `error` code; any string is sent as given. */
  readonly error: OAuthErrorCode | (string & {})
  /** The `error_description`. @default a fixed sentence naming the fault */
  readonly description?: string
  /** @default 401 for `invalid_client`, 500 `server_error`, 503 `temporarily_unavailable`, else 400 */
  readonly status?: number
  /** `Retry-After` header value, sent verbatim (delay-seconds or an HTTP-date). */
  readonly retryAfter?: number | string
}

/** Answers with arbitrary JSON, for bodies with missing members or wrong types. */
export interface BodyFault extends MockFaultOptions {
  readonly type: 'body'
  /** Serialized with `JSON.stringify`. */
  readonly body: unknown
  /** @default 200 */
  readonly status?: number
}

/**
 * A fault to inject with {@link MockTokenServer.injectFault}.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2
 */
export type MockFault =
  | StatusFault
  | LatencyFault
  | MalformedJSONFault
  | HTMLFault
  | NetworkErrorFault
  | OAuthErrorFault
  | BodyFault

/** The per-target fault queues. Not part of the public surface. */
export interface FaultQueue {
  add(fault: MockFault): void
  /** Takes the fault for the next request to `target`, if any. */
  take(target: MockFaultTarget): MockFault | null
  clear(): void
}

const TARGETS: readonly MockFaultTarget[] = ['token', 'revocation', 'discovery', 'api', 'backend']
const FAULT_TYPES: readonly MockFault['type'][] = [
  'status',
  'latency',
  'malformed-json',
  'html',
  'network-error',
  'oauth-error',
  'body',
]

function invalid(member: string, rule: string): never {
  throw new TypeError(`fault "${member}" ${rule}`)
}

function checkStatus(status: number | undefined): void {
  if (status !== undefined && (!Number.isInteger(status) || status < 200 || status > 599)) {
    invalid('status', 'must be an integer from 200 to 599')
  }
}

/**
 * Validates a fault up front so a typo fails the test that made it, not a later request.
 *
 * @param fault - the fault
 * @throws {TypeError} naming the invalid member
 */
export function validateFault(fault: MockFault): void {
  if (typeof fault !== 'object' || fault === null || !FAULT_TYPES.includes(fault.type)) {
    invalid('type', `must be one of ${FAULT_TYPES.join(', ')}`)
  }
  if (fault.target !== undefined && !TARGETS.includes(fault.target)) {
    invalid('target', `must be one of ${TARGETS.join(', ')}`)
  }
  const times = fault.times ?? 1
  if (!(times === Number.POSITIVE_INFINITY || (Number.isInteger(times) && times >= 1))) {
    invalid('times', 'must be a positive integer or Infinity')
  }
  if (fault.type === 'latency' && !(Number.isFinite(fault.ms) && fault.ms >= 0)) {
    invalid('ms', 'must be a non-negative number of milliseconds')
  }
  if (fault.type === 'status' && fault.status === undefined) invalid('status', 'is required')
  if (fault.type === 'oauth-error' && (typeof fault.error !== 'string' || fault.error === '')) {
    invalid('error', 'must be a non-empty string')
  }
  if ('status' in fault) checkStatus(fault.status)
}

/**
 * Creates the per-target fault queues.
 *
 * @returns the queues
 */
export function createFaultQueue(): FaultQueue {
  const queues = new Map<MockFaultTarget, { fault: MockFault; remaining: number }[]>()
  return {
    add(fault) {
      validateFault(fault)
      const target = fault.target ?? 'token'
      const queue = queues.get(target) ?? []
      queue.push({ fault, remaining: fault.times ?? 1 })
      queues.set(target, queue)
    },
    take(target) {
      const queue = queues.get(target)
      const head = queue?.[0]
      if (queue === undefined || head === undefined) return null
      head.remaining -= 1
      if (head.remaining <= 0) queue.shift()
      return head.fault
    },
    clear() {
      queues.clear()
    },
  }
}

const NULL_BODY_STATUSES = new Set([204, 205, 304])

function retryAfterHeader(retryAfter: number | string | undefined): Record<string, string> {
  return retryAfter === undefined ? {} : { 'Retry-After': String(retryAfter) }
}

/**
 * The response a (non-latency) fault answers with.
 *
 * @param fault - the fault
 * @returns the response; a network error for `network-error`
 */
export function faultResponse(fault: Exclude<MockFault, LatencyFault>): Response {
  switch (fault.type) {
    case 'network-error':
      return HttpResponse.error()
    case 'status': {
      const headers = { 'Cache-Control': 'no-store', ...retryAfterHeader(fault.retryAfter) }
      if (NULL_BODY_STATUSES.has(fault.status)) {
        return new HttpResponse(null, { status: fault.status, headers })
      }
      return HttpResponse.text(reasonPhrase(fault.status), { status: fault.status, headers })
    }
    case 'malformed-json':
      return new HttpResponse('{"access_token": "', {
        status: fault.status ?? 200,
        headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
      })
    case 'html': {
      const status = fault.status ?? 502
      const title = `${status} ${reasonPhrase(status)}`
      return HttpResponse.html(
        `<!doctype html><html><head><title>${title}</title></head><body><h1>${title}</h1><hr><p>nginx</p></body></html>`,
        { status, headers: { 'Cache-Control': 'no-store' } },
      )
    }
    case 'oauth-error':
      return oauthErrorResponse(
        fault.error,
        fault.description ?? `Injected ${fault.error} fault`,
        fault.status ?? statusForOAuthError(fault.error),
        retryAfterHeader(fault.retryAfter),
      )
    case 'body': {
      const status = fault.status ?? 200
      if (NULL_BODY_STATUSES.has(status)) return new HttpResponse(null, { status })
      return HttpResponse.json(fault.body as JsonBodyType, {
        status,
        headers: { 'Cache-Control': 'no-store' },
      })
    }
  }
}
