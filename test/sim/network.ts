/**
 * The network between the tabs and the mock token server. Each tab gets its own `fetch`; a request
 * travels (request latency), reaches the mock's msw handlers through `getResponse` (no msw
 * interception: the server runs as a task of the world), and its answer travels back (response
 * latency) as a task of the tab. Faults are decided per request by the world: a failure before the
 * server sees the request, a gateway 5xx, or an answer lost after the server acted (the fetch
 * rejects like a network error, or hangs until the caller's signal aborts it).
 */
import { getResponse, matchRequestUrl, type RequestHandler } from 'msw'
import type { Context, Label, Scheduler, Task } from './scheduler.js'

/** The mock's protected API (`apiOrigin` of the mock). */
export const API_ORIGIN = 'https://api.example.com'
/** Every origin the mock serves an API on (the others only with resource indicators on). */
export const API_ORIGINS: readonly string[] = [
  API_ORIGIN,
  'https://data.example.com',
  'https://legacy.example.com',
]

/** Which server a request is for; `backend`/`backend-logout`: the session backend's refresh and logout. */
export type FlightKind = 'token' | 'revocation' | 'api' | 'backend' | 'backend-logout' | 'other'

/** The session backend's paths on the app's origin (the mock's defaults). */
export const BACKEND_REFRESH_PATH = '/auth/refresh'
export const BACKEND_LOGOUT_PATH = '/auth/logout'

/** What happens to a request, decided when it is sent. */
export type OutboundFault =
  | { readonly type: 'network-error'; readonly message?: string }
  | { readonly type: 'status'; readonly status: number; readonly retryAfter?: number }

/** What happens to an answer, decided once the server has answered. */
export type ReturnFault = { readonly type: 'lost-reject' } | { readonly type: 'lost-hang' }

/** One request from a tab. */
export interface Flight {
  readonly id: number
  readonly owner: Context
  readonly kind: FlightKind
  readonly method: string
  readonly path: string
  /** The request URL, with its query. */
  readonly url: string
  /** The request headers as sent (`Authorization`, `DPoP`, ...). */
  readonly headers: Headers
  /** The form of a token or revocation request (known when sent as `URLSearchParams`). */
  form: URLSearchParams | undefined
  /** The refresh cookie a session backend request carried, as the browser attached it when sent. */
  cookie: string | undefined
  /** Where the request or its answer is. */
  where: 'outbound' | 'server' | 'returning' | 'lost' | 'done'
  /** Whether the tab's fetch has settled (answered, rejected or aborted). */
  settled: boolean
  /** The next task of this flight, for a crash to cancel. */
  pending: Task | undefined
}

/** What the network needs from the world. */
export interface NetworkHooks {
  latency(flight: Flight, leg: 'request' | 'response'): number
  /** A fault before the server, if any (only the world knows the seed's fault profile). */
  outboundFault(flight: Flight): OutboundFault | undefined
  /** A fault after the server answered, if any. */
  returnFault(flight: Flight, response: Response): ReturnFault | undefined
  /**
   * The `Cookie` header the browser attaches to a session backend request when it is sent, and
   * the refresh cookie in it (`undefined`: none).
   */
  cookies(): { header: string; refresh: string | undefined }
  /** A session backend answer reaches a fetch that still waits for it: the browser stores its cookie. */
  received(flight: Flight, response: Response): void
  /** A fetch was called (in the tab's step). */
  sent(flight: Flight): void
  /** The request reached the server, which has not acted yet: the form is read. */
  arrived(flight: Flight): void
  /** The server answered (before any return fault); may read a clone of the response. */
  answered(flight: Flight, response: Response): Promise<void>
  /** The tab's fetch settled: with a response, or rejected. */
  settled(flight: Flight, outcome: 'response' | 'rejected'): void
  /** Something in the server or the network broke (a mock that threw). */
  broken(what: string): void
  /** A short description for the trace. */
  trace(owner: Context, text: Label): void
}

/** The shared network: flights in the air, the server's handlers, one fetch per tab. */
export class Network {
  private nextId = 1
  readonly flights = new Set<Flight>()
  /** The mock's handlers that match a URL (by origin and path), so the others are not run. */
  private readonly route = new Map<string, RequestHandler[]>()

  constructor(
    private readonly scheduler: Scheduler,
    private readonly world: Context,
    private readonly handlers: readonly RequestHandler[],
    private readonly hooks: NetworkHooks,
  ) {}

  /** The `fetch` of a tab: pass it as the SDK's `fetch` option. */
  fetchFor(owner: Context): (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> {
    return (input, init) => this.fetch(owner, input, init)
  }

  private fetch(owner: Context, input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const running = this.scheduler.owner('fetch')
    if (running !== owner) this.hooks.broken(`fetch of ${owner.name} called in ${running?.name}`)
    let request: Request
    try {
      request = new Request(input, init)
    } catch (error) {
      return Promise.reject(error)
    }
    const { signal } = request
    if (signal.aborted) return Promise.reject(signal.reason)
    const url = new URL(request.url)
    const kind: FlightKind = url.pathname.endsWith('/oauth/token')
      ? 'token'
      : url.pathname.endsWith('/oauth/revoke')
        ? 'revocation'
        : API_ORIGINS.includes(url.origin)
          ? 'api'
          : url.pathname === BACKEND_REFRESH_PATH
            ? 'backend'
            : url.pathname === BACKEND_LOGOUT_PATH
              ? 'backend-logout'
              : 'other'
    // The browser attaches its cookies when it sends (the mock reads a `Cookie` header first).
    const cookies =
      kind === 'backend' || kind === 'backend-logout' ? this.hooks.cookies() : undefined
    if (cookies !== undefined) request.headers.set('cookie', cookies.header)
    // What the server receives: the body as sent, whatever the tab does with its Request later.
    const wire = request.body === null ? request : request.clone()
    const flight: Flight = {
      id: this.nextId++,
      owner,
      kind,
      method: request.method,
      path: url.pathname,
      url: request.url,
      headers: new Headers(request.headers),
      form: formOf(init?.body),
      cookie: cookies?.refresh,
      where: 'outbound',
      settled: false,
      pending: undefined,
    }
    this.flights.add(flight)
    const finished = (where: Flight['where']): void => {
      flight.where = where
      if (flight.settled && (where === 'done' || where === 'lost')) this.flights.delete(flight)
    }
    return new Promise<Response>((resolve, reject) => {
      const settle = (response: Response | undefined, error?: unknown): void => {
        if (flight.settled) return
        flight.settled = true
        signal.removeEventListener('abort', onAbort)
        if (flight.where === 'done' || flight.where === 'lost') this.flights.delete(flight)
        this.hooks.settled(flight, response ? 'response' : 'rejected')
        if (response) resolve(response)
        else reject(error)
      }
      // An aborted fetch rejects at once; the request may still reach the server.
      const onAbort = (): void => {
        this.hooks.trace(owner, () => `fetch #${flight.id} aborted`)
        settle(undefined, signal.reason)
      }
      signal.addEventListener('abort', onAbort)
      this.hooks.sent(flight)
      const fault = flight.kind === 'api' ? undefined : this.hooks.outboundFault(flight)
      const there = this.hooks.latency(flight, 'request')
      if (fault?.type === 'network-error') {
        flight.pending = this.scheduler.schedule(
          owner,
          there,
          'net',
          `#${flight.id} failed`,
          () => {
            finished('done')
            settle(undefined, new TypeError(fault.message ?? 'Failed to fetch'))
          },
        )
        return
      }
      flight.pending = this.scheduler.schedule(
        this.world,
        there,
        'server',
        () => `#${flight.id} ${flight.method} ${flight.path} reaches server`,
        () => {
          flight.where = 'server'
          void this.serve(flight, wire, fault).then((answer) => {
            if (answer === undefined) return finished('done')
            const { response, lost } = answer
            if (lost?.type === 'lost-hang') {
              this.hooks.trace(this.world, () => `#${flight.id} answer lost (the fetch hangs)`)
              return finished('lost')
            }
            flight.where = 'returning'
            const label = () =>
              lost
                ? `#${flight.id} answer lost (network error)`
                : `#${flight.id} answer ${response.status}`
            const back = this.hooks.latency(flight, 'response')
            flight.pending = this.scheduler.schedule(owner, back, 'net', label, () => {
              if (lost) {
                finished('lost')
                settle(undefined, new TypeError('Failed to fetch'))
              } else {
                finished('done')
                // The browser stores a cookie only from an answer a live fetch receives.
                if (!flight.settled && response.type !== 'error')
                  this.hooks.received(flight, response)
                if (response.type === 'error') settle(undefined, new TypeError('Failed to fetch'))
                else settle(response)
              }
            })
          })
        },
      )
    })
  }

  /** The server's side: a gateway fault, or the mock's handlers. */
  private async serve(
    flight: Flight,
    wire: Request,
    fault: OutboundFault | undefined,
  ): Promise<{ response: Response; lost: ReturnFault | undefined } | undefined> {
    const bodyless = wire.method === 'GET' || wire.method === 'HEAD'
    const text = bodyless ? '' : await wire.text()
    const type = wire.headers.get('content-type') ?? ''
    if (type.startsWith('application/x-www-form-urlencoded'))
      flight.form = new URLSearchParams(text)
    if (fault?.type === 'status') {
      const headers: Record<string, string> = { 'cache-control': 'no-store' }
      if (fault.retryAfter !== undefined) headers['retry-after'] = String(fault.retryAfter)
      const response = new Response('Service Unavailable', { status: fault.status, headers })
      this.hooks.trace(this.world, () => `#${flight.id} gateway ${fault.status}`)
      return { response, lost: undefined }
    }
    this.hooks.arrived(flight)
    const serverRequest = bodyless
      ? wire
      : new Request(wire.url, {
          method: wire.method,
          headers: wire.headers,
          ...(text === '' ? {} : { body: text }),
        })
    let response: Response | undefined
    try {
      response = await getResponse(this.handlersFor(serverRequest.url), serverRequest)
    } catch (error) {
      this.hooks.broken(`the mock threw on ${flight.method} ${flight.path}: ${error}`)
      return undefined
    }
    response ??= new Response('no handler', { status: 404 })
    await this.hooks.answered(flight, response)
    const lost = flight.kind === 'api' ? undefined : this.hooks.returnFault(flight, response)
    return { response, lost }
  }

  private handlersFor(href: string): RequestHandler[] {
    const url = new URL(href)
    const key = url.origin + url.pathname
    let handlers = this.route.get(key)
    if (handlers === undefined) {
      handlers = this.handlers.filter((handler) => {
        const { path } = handler.info as { path?: unknown }
        return typeof path !== 'string' && !(path instanceof RegExp)
          ? true
          : matchRequestUrl(url, path).matches
      })
      this.route.set(key, handlers)
    }
    return handlers
  }

  /** A tab is gone: answers on their way to it vanish; `keep` decides for requests still outbound. */
  crash(owner: Context, keep: (flight: Flight) => boolean): void {
    for (const flight of this.flights) {
      if (flight.owner !== owner) continue
      this.flights.delete(flight)
      if (flight.where === 'outbound' && flight.pending && !keep(flight)) {
        flight.pending.cancelled = true
      }
    }
  }

  /** Requests of `kind` whose fetch has not settled, from tabs that are not gone. */
  open(kind: FlightKind): Flight[] {
    return [...this.flights].filter((flight) => flight.kind === kind && !flight.settled)
  }

  /** Whether a token request (or session backend refresh) is in flight from a tab that is not gone. */
  tokenRequestInFlight(): boolean {
    for (const flight of this.flights) {
      if ((flight.kind === 'token' || flight.kind === 'backend') && !flight.settled) return true
    }
    return false
  }
}

/** The form of a request body given as `URLSearchParams` (as the SDK sends it), if it is one. */
function formOf(body: unknown): URLSearchParams | undefined {
  return body instanceof URLSearchParams ? new URLSearchParams(body) : undefined
}
