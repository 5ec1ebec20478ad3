/**
 * The invariants, checked as the run goes (after every step, and when requests, calls and events
 * happen) and at its end. Tokens are named by family and generation (`F2.3`: the third renewal
 * of the second login), never by value.
 *
 * 1. The token server never sees a rotated refresh token, except when the answer of the rotation
 *    never reached any tab (a lost answer, a crashed tab) or a crashed tab's request arrives late:
 *    counted apart as the documented limit.
 * 2. At most one token request of a session in flight across the live tabs.
 * 3. Whenever the system is quiet, every running tab holds the same tokens, and their refresh
 *    token is not one whose successor reached a tab.
 * 4. A session ends only with 'expired' (after an `invalid_grant` some tab received for it or a
 *    newer session) or 'logout' (after a `logout()` that ended it or a newer one), and never
 *    without one of them; no tab adopts a session a message it received had ended.
 * 5. No call fails while the token server works (no fault within the recovery window) and the
 *    session is live; a call that fails fails with an AuthError.
 * 6. A disposed client leaves no timer, lock, open channel or listener behind.
 * 7. No token value in an error (message, enumerable fields, cause, recursively) or in an event
 *    payload other than 'tokens' and 'refresh'.
 * In backend mode (the session backend's refresh cookie, see README.md) the same invariants read:
 * the refresh token is the browser's cookie as the request carried it (1); one backend refresh in
 * flight at most, with or without a session (2); a 401 from the backend is the invalid_grant (4),
 * and a tab without a session never fires 'expired'; a call must succeed while the backend's
 * session (the jar's cookie) is live and ends nowhere during the call, whether or not the tab held
 * tokens when it started (5).
 * With DPoP or resource indicators, api-watch.ts adds the invariants 'audience', 'dpop' and
 * 'nonce' on what the token endpoint and the APIs receive.
 * Besides: a tab never goes back to an older session; 'refresh' fires only in the tab whose
 * request brought the tokens; every call settles; the POST body replayed after a 401 is intact;
 * a token handed out was issued by the server; platform code runs only inside steps.
 */
import { isAuthError, type TokenClient, type TokenResponse, type TokenSet } from 'freshtoken'
import { ApiWatch } from './api-watch.js'
import { isOpen, type KnownBug } from './known-bugs.js'
import type { Flight } from './network.js'
import {
  BACKEND_RENEWAL_LOCK,
  HELLO_WAIT,
  LOCK_WAIT,
  MESSAGE_DELAY_MAX,
  RENEWAL_LOCK,
  recoveryWindow,
} from './options.js'
import { labelText } from './scheduler.js'
import type { Tab, World } from './world.js'

/** What the monitor knows about one token value. */
interface TokenInfo {
  readonly family: number
  readonly gen: number
}

/** One session at the server: the tokens of one login and its renewals. */
interface FamilyInfo {
  readonly n: number
  /** Wall-clock ms of the login: sessions are ordered by it. */
  readonly loginAt: number
  /** Whether a tab received `invalid_grant` for it. */
  invalidGrant: boolean
  /** Whether a tab's own logout() ended it. */
  loggedOut: boolean
}

/** A refresh token the server rotated, and whether the answer carrying its successor arrived. */
interface Rotation {
  readonly successor: string
  delivered: boolean
  /** Whether the answer reached a client that was disposed by then (see known-bugs.ts). */
  toDisposed: boolean
}

/** One call of the app. */
export interface Call {
  readonly id: number
  readonly tab: Tab
  readonly kind: string
  readonly probe: boolean
  readonly start: number
  /** Whether the tab held a session when the call started. */
  readonly hadSession: boolean
  /** Backend mode: whether the browser's refresh cookie was live at the backend then. */
  readonly backendLive: boolean
  /** Backend mode: {@link Monitor.backendEnds} when the call started. */
  readonly backendEnds: number
  /** Backend mode: logout() calls started so far, or -1 when one was in progress at the start. */
  readonly logouts: number
  /** The resource (RFC 8707) whose token the call uses, if any. */
  readonly resource?: string | undefined
}

/** What the monitor follows per tab between steps. */
interface TabWatch {
  client: TokenClient
  tokens: TokenSet | null
  /** The newest session the tab ever held, as (login time, family, generation). */
  last: TokenInfo | undefined
  /** Events that ended the session during the current step. */
  ended: string[]
  /** When the tab last fired 'logout' or 'expired'. */
  endedAt: number
  /** Families whose end this tab fired ('logout' or 'expired'). */
  readonly endedHere: Set<number>
  /** The highest revision a 'logout'/'expired' message delivered to this tab announced ended. */
  endedRevision: number
  /** Session states whose 'session' message this tab lost in the back/forward cache. */
  readonly lostInBfcache: TokenInfo[]
  /** Whether the tab holds a session: set by 'tokens', cleared by its end, synced after steps. */
  holding: boolean
}

/** A period after which calls may fail although the server works again. */
interface FaultSpan {
  readonly from: number
  until: number
}

/** The fields of the SDK's channel messages the monitor reads. */
interface ChannelMessage {
  readonly type?: string
  readonly session?: string
  readonly revision?: unknown
}

/** The revision inside an encoded session, if readable. */
function revisionOf(session: string | undefined): number | undefined {
  try {
    const revision = JSON.parse(session ?? '').revision
    return typeof revision === 'number' ? revision : undefined
  } catch {
    return undefined
  }
}

/** The access token inside an encoded session, if readable. */
function accessTokenOf(session: string | undefined): string | undefined {
  try {
    const token = JSON.parse(session ?? '').tokens?.accessToken
    return typeof token === 'string' ? token : undefined
  } catch {
    return undefined
  }
}

/** Token values as the mock mints them (opaque `at_`/`rt_` values, or JWTs). */
const TOKEN_SHAPE = /\b(?:at|rt)_[A-Za-z0-9_-]{16,}|eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+/

export class Monitor {
  readonly violations: string[] = []
  /** Violations with the signature of a known, unfixed SDK bug (see known-bugs.ts). */
  readonly known: string[] = []
  readonly stats: Record<string, number> = {
    calls: 0,
    callsFailed: 0,
    callsExcused: 0,
    renewals: 0,
    tokenRequests: 0,
    limitLostAnswer: 0,
    limitCrashedRequest: 0,
    reusePresented: 0,
    quietChecks: 0,
    noSessionInNewTab: 0,
    noSessionAnywhere: 0,
  }
  private readonly tokens = new Map<string, TokenInfo>()
  private readonly families = new Map<string, FamilyInfo>()
  private readonly familyOf = new Map<number, FamilyInfo>()
  private readonly rotations = new Map<string, Rotation>()
  /** Per token request: what its answer brought (for delivery). */
  private readonly answers = new Map<
    Flight,
    {
      rotated?: string
      accessToken?: string
      /** The session the answer ended; `'all'`: the backend has none (no or unknown cookie). */
      invalidGrant?: FamilyInfo | 'all'
    }
  >()
  /**
   * Backend mode: how many times the backend ended a session server-side (a logout request, a
   * server-side revocation, a 401 verdict), for calls that span one.
   */
  private backendEnds = 0
  /** logout() calls started so far. */
  private logouts = 0
  /** Access token → the tab whose request brought it. */
  private readonly deliveredTo = new Map<string, Tab>()
  private readonly watches = new Map<Tab, TabWatch>()
  private readonly pending = new Set<Call>()
  private readonly faults: FaultSpan[] = []
  private readonly openFreezes = new Map<Tab, FaultSpan>()
  /** Tabs with a logout() call in progress, and how many. */
  private readonly loggingOut = new Map<Tab, number>()
  private nextCall = 1
  private lastQuietAt = -1
  private probeStartedAt = Number.POSITIVE_INFINITY
  private injected = false
  /** Token requests that present a refresh token older than the one their tab holds. */
  private readonly sentStale = new WeakSet<Flight>()
  /** Token requests sent while a newer state of their session was on its way to their tab. */
  private readonly overtaken = new WeakSet<Flight>()
  /** Token requests the test side sent (the injections): never excused as a known bug. */
  private readonly injectedFlights = new WeakSet<Flight>()
  /** Tabs that released the lease (no Web Locks) while one of their token requests was in flight. */
  private readonly leaseReleasedEarly = new WeakSet<Tab>()
  /** Per tab, the lease claims it received (by id and time). */
  private readonly claimsHeard = new WeakMap<Tab, Map<string, number>>()
  /** Per tab, its last lease claim. */
  private readonly lastClaim = new WeakMap<Tab, { key: string; at: number; sent: number }>()
  /** Tabs whose last lease message was a claim (they claim or hold the lease). */
  private readonly leaseOpen = new WeakSet<Tab>()
  /** Tabs that announced a renewal ('renewing') and sent no outcome ('session', 'backoff') since. */
  private readonly announcedRenewal = new WeakSet<Tab>()
  /** Tabs disposed while a sibling's announced renewal had no outcome yet (their channel closes). */
  private readonly disposedDuringSiblingRenewal = new WeakSet<Tab>()
  /** When a tab was disposed while it claimed or held the lease. */
  private readonly disposedWithLease: number[] = []
  /** The machine's sleeps: when, and how long (the wall clock jumped). */
  private readonly sleeps: { at: number; ms: number }[] = []
  /** Families whose end some tab fired. */
  private readonly endedFamilies = new Set<number>()
  /** The channel message being delivered, while its receiver runs. */
  private delivering: { tab: Tab; data: ChannelMessage } | undefined
  private wasQuiet = false
  private tabsChanged = false

  /** DPoP and resource indicators (api-watch.ts). */
  readonly api: ApiWatch

  constructor(private readonly world: World) {
    this.api = new ApiWatch(
      world,
      new Map(world.apis.map((api) => [api.origin, api.resource])),
      world.apis.flatMap((api) => api.resource ?? []),
      'https://auth.example.com',
      (invariant, message, known, options) => this.violation(invariant, message, known, options),
      () => this.fault(this.now, 0),
      (at) => this.sleeps.some((sleep) => sleep.at >= at),
      (token) => this.label(token),
    )
  }

  /**
   * Records a violation (the run stops after the step unless told to keep going). `known` names
   * the open SDK bug whose signature the run showed: the seed then counts as a known bug.
   */
  violation(
    invariant: number | string,
    message: string,
    known?: KnownBug,
    { fatal = true }: { fatal?: boolean } = {},
  ): void {
    // What follows a known bug in the same step is its consequence. A known bug that is not
    // fatal (the page runs on as if nothing happened, see 'resource-timer-after-end') does not
    // stop the run, and what follows it is checked as usual.
    if (known !== undefined && isOpen(known) && !fatal) {
      const line = `[${invariant}] ${message} (known bug: ${known})`
      this.known.push(line)
      this.nonFatalKnown++
      this.world.log('KNOWN BUG', line)
      return
    }
    if (
      (known !== undefined && isOpen(known)) ||
      (this.known.length > this.nonFatalKnown && this.violations.length === 0)
    ) {
      const line = `[${invariant}] ${message} (known bug: ${known})`
      this.known.push(line)
      this.world.log('KNOWN BUG', line)
      return
    }
    const line = `[${invariant}] ${message}`
    this.violations.push(line)
    this.world.log('VIOLATION', line)
  }

  /** Known bugs that do not stop the run. */
  private nonFatalKnown = 0

  /** Whether the run should stop: something was found. */
  get found(): boolean {
    return this.violations.length + this.known.length - this.nonFatalKnown > 0
  }

  private get now(): number {
    return this.world.scheduler.now
  }

  // --- tokens and sessions ---

  private register(value: string, info: TokenInfo): void {
    this.tokens.set(value, info)
  }

  /** `F2.3` for a token, `?` for one the server never issued. */
  label(value: string | undefined): string {
    if (value === undefined) return '-'
    const info = this.tokens.get(value)
    return info ? `F${info.family}.${info.gen}` : '?'
  }

  private family(value: string | undefined): FamilyInfo | undefined {
    const info = value === undefined ? undefined : this.tokens.get(value)
    return info && this.familyOf.get(info.family)
  }

  /** A login: the mock minted a new session for `tab`. */
  loggedIn(tab: Tab, response: TokenResponse): void {
    const refresh = response.refresh_token as string
    const label = this.world.mock.introspect(refresh).family ?? '?'
    const info: FamilyInfo = {
      n: this.families.size + 1,
      loginAt: this.world.scheduler.wall(),
      invalidGrant: false,
      loggedOut: false,
    }
    this.families.set(label, info)
    this.familyOf.set(info.n, info)
    this.register(response.access_token, { family: info.n, gen: 0 })
    this.register(refresh, { family: info.n, gen: 0 })
    this.world.log(tab, () => `login F${info.n}.0`)
  }

  /** A short description of a channel message, for the trace. */
  describeMessage(data: unknown): string {
    const message = data as { type?: string; session?: string; revision?: number; until?: number }
    switch (message?.type) {
      case 'session': {
        let access: string | undefined
        try {
          access = JSON.parse(message.session ?? '').tokens?.accessToken
        } catch {}
        return `session ${this.label(access)}`
      }
      case 'backoff':
        return `backoff +${Math.round((message.until ?? 0) - this.world.scheduler.wall())}ms`
      case 'claim':
      case 'held':
      case 'release': {
        const { id, at } = message as { id?: string; at?: number }
        return `${message.type} ${id}${at === undefined ? '' : ` at ${at - this.world.scheduler.wallOffset}`}`
      }
      default:
        return String(message?.type)
    }
  }

  /** A channel message is about to be delivered to `tab` (`undefined`: the delivery is over). */
  delivery(tab: Tab, data: unknown): void {
    const watch = this.watches.get(tab)
    if (data === undefined || watch === undefined) {
      this.delivering = undefined
      return
    }
    const message = data as ChannelMessage
    this.delivering = { tab, data: message }
    const claim = data as { type?: string; id?: string; at?: number }
    if (claim?.type === 'claim') {
      const heard = this.claimsHeard.get(tab) ?? new Map()
      heard.set(`${claim.id}@${claim.at}`, this.now)
      this.claimsHeard.set(tab, heard)
    }
    if (
      (message?.type === 'logout' || message?.type === 'expired') &&
      typeof message.revision === 'number'
    ) {
      watch.endedRevision = Math.max(watch.endedRevision, message.revision)
    }
  }

  /** `tab` posted a channel message. */
  posted(tab: Tab, data: unknown): void {
    const message = data as { type?: string; id?: string; at?: number }
    if (message?.type === 'claim' && typeof message.at === 'number') {
      this.lastClaim.set(tab, {
        key: `${message.id}@${message.at}`,
        at: message.at,
        sent: this.now,
      })
      this.leaseOpen.add(tab)
    }
    // A renewal announced to the siblings, until an outcome they count as one ('session',
    // 'backoff'): see 'resource-renewal-waits-for-silent-sibling'.
    if (message?.type === 'renewing') this.announcedRenewal.add(tab)
    else if (message?.type === 'session' || message?.type === 'backoff')
      this.announcedRenewal.delete(tab)
    if (message?.type === 'release') {
      this.leaseOpen.delete(tab)
      // Released while a token request of this tab is still in flight: the lease is free to
      // siblings although this tab is renewing (see 'lease-reentrant').
      const renewing = this.world.network
        .open('token')
        .some((flight) => flight.owner === tab && !flight.settled)
      if (renewing) this.leaseReleasedEarly.add(tab)
    }
  }

  /** `tab` lost a channel message while in the back/forward cache. */
  lostInBfcache(tab: Tab, data: unknown): void {
    const message = data as ChannelMessage
    if (message?.type !== 'session') return
    const info = this.tokens.get(accessTokenOf(message.session) ?? '')
    if (info) this.watches.get(tab)?.lostInBfcache.push(info)
  }

  // --- clients and their events ---

  clientCreated(tab: Tab, client: TokenClient): void {
    this.tabsMoved()
    const watch: TabWatch = {
      client,
      tokens: client.tokens,
      last: undefined,
      ended: [],
      endedAt: Number.NEGATIVE_INFINITY,
      endedHere: new Set(),
      endedRevision: Number.NEGATIVE_INFINITY,
      lostInBfcache: [],
      holding: client.tokens !== null,
    }
    this.watches.set(tab, watch)
    if (client.tokens) this.sessionSeen(tab, watch, client.tokens, 'restored')
    client.on('tokens', (tokens) => {
      this.checkPayload(tab, 'tokens', tokens)
      this.sessionSeen(tab, watch, tokens, 'tokens')
    })
    client.on('refresh', (tokens) => {
      this.checkPayload(tab, 'refresh', tokens)
      // A resource's renewal (RFC 8707) keeps the session's access token: its refresh token is
      // what the request brought.
      const from =
        this.deliveredTo.get(tokens.accessToken) === tab
          ? tab
          : (this.deliveredTo.get(tokens.refreshToken ?? '') ??
            this.deliveredTo.get(tokens.accessToken))
      if (from !== tab) {
        this.violation(
          'refresh',
          `${tab.name} fired 'refresh' for ${this.label(tokens.accessToken)}, which ${from?.name ?? 'no tab'} received`,
        )
      }
      this.world.log(tab, () => `event refresh ${this.label(tokens.accessToken)}`)
    })
    client.on('expired', (error) => {
      this.checkLeak(`${tab.name} 'expired' payload`, error)
      // Backend mode: a tab without a session that hears 'no session' from the backend has
      // nothing to end; its calls reject with no_session, and no 'expired' fires.
      if (this.world.options.mode === 'backend' && !watch.holding) {
        this.violation(4, `${tab.name} fired 'expired' without a session`)
      }
      watch.holding = false
      // The session a tab ends is its own, or an older one than the sender's: some session as
      // new or newer must have met invalid_grant.
      const family = this.familyOf.get(watch.last?.family ?? -1)
      if (family !== undefined && !this.endedBy((f) => f.invalidGrant, family)) {
        this.violation(
          4,
          `${tab.name} fired 'expired' for F${family.n}, which no invalid_grant ended`,
        )
      }
      this.sessionEnded(watch)
      watch.ended.push('expired')
      watch.endedAt = this.now
      this.world.log(tab, 'event expired')
    })
    client.on('logout', (payload) => {
      if (payload !== undefined) this.violation(7, `${tab.name} 'logout' has a payload`)
      const family = this.familyOf.get(watch.last?.family ?? -1)
      if (this.loggingOut.has(tab)) {
        // This tab's own logout() ends its session.
        if (family) family.loggedOut = true
      } else if (family !== undefined && !this.endedBy((f) => f.loggedOut, family)) {
        this.violation(4, `${tab.name} fired 'logout' for F${family.n}, which no logout() ended`)
      }
      watch.holding = false
      this.sessionEnded(watch)
      watch.ended.push('logout')
      watch.endedAt = this.now
      this.world.log(tab, 'event logout')
    })
    client.on('error', (error) => {
      if (!isAuthError(error)) this.violation(5, `${tab.name} 'error' event with a non-AuthError`)
      this.checkLeak(`${tab.name} 'error' payload`, error)
      this.world.log(tab, () => `event error ${(error as { code?: string }).code}`)
    })
  }

  /** The session of `watch`'s tab ended there. */
  private sessionEnded(watch: TabWatch): void {
    // The last session the tab held is the one that ended.
    const family = watch.last?.family
    if (family === undefined) return
    watch.endedHere.add(family)
    this.endedFamilies.add(family)
  }

  private sessionSeen(tab: Tab, watch: TabWatch, tokens: TokenSet, how: string): void {
    const info = this.tokens.get(tokens.accessToken)
    const message = this.delivering?.tab === tab ? this.delivering.data : undefined
    if (message?.type === 'session' && how === 'tokens') {
      const revision = revisionOf(message.session)
      if (revision !== undefined && revision <= watch.endedRevision) {
        this.violation(
          4,
          `${tab.name} adopted ${this.label(tokens.accessToken)} (revision ${revision}) after a message ended revision ${watch.endedRevision}`,
          'ended-revision-readopted',
        )
      }
    }
    watch.holding = true
    this.world.log(
      tab,
      () => `${how === 'tokens' ? 'event tokens' : how} ${this.label(tokens.accessToken)}`,
    )
    if (info === undefined) {
      this.violation('tokens', `${tab.name} holds an access token the server never issued`)
      return
    }
    const last = watch.last
    // A resource's renewal commits the session with its access token as it was: the same state.
    const same = last !== undefined && last.family === info.family && last.gen === info.gen
    if (last !== undefined && !same && !this.newer(info, last)) {
      this.violation(
        'newest',
        `${tab.name} went back from F${last.family}.${last.gen} to F${info.family}.${info.gen}`,
      )
    }
    watch.last = info
  }

  /** Whether session state `a` is newer than `b`: by login time, then by renewal. */
  private newer(a: TokenInfo, b: TokenInfo): boolean {
    const la = this.familyOf.get(a.family)?.loginAt ?? 0
    const lb = this.familyOf.get(b.family)?.loginAt ?? 0
    if (la !== lb) return la > lb
    // Two logins in the same millisecond: the SDK orders them its own way.
    return a.family !== b.family || a.gen > b.gen
  }

  private checkPayload(tab: Tab, event: string, tokens: TokenSet): void {
    const types = this.world.options.dpop ? ['Bearer', 'DPoP'] : ['Bearer']
    if (typeof tokens?.accessToken !== 'string' || !types.includes(tokens.tokenType)) {
      this.violation('tokens', `${tab.name} '${event}' payload is not a TokenSet`)
    }
  }

  // --- requests ---

  requestSent(flight: Flight): void {
    this.api.sent(flight)
    if (flight.kind === 'backend') {
      this.backendRequestSent(flight)
      return
    }
    if (flight.kind !== 'token') return
    if (this.world.injecting) this.injectedFlights.add(flight)
    this.stats.tokenRequests = (this.stats.tokenRequests ?? 0) + 1
    const refresh = flight.form?.get('refresh_token') ?? undefined
    const family = this.family(refresh)
    this.world.log(flight.owner, () => {
      const resource = flight.form?.get('resource')
      return `#${flight.id} token request with ${this.label(refresh)}${resource ? ` for ${resource}` : ''}`
    })
    if (family === undefined) return
    const open = this.world.network
      .open('token')
      .filter(
        (other) =>
          other.owner.status !== 'crashed' &&
          this.family(other.form?.get('refresh_token') ?? undefined) === family,
      )
    if (open.length > 1) {
      this.violation(
        2,
        `${open.length} token requests of F${family.n} in flight: ${open.map((f) => `#${f.id} (${f.owner.name})`).join(', ')}`,
        this.classifyConcurrent(open),
      )
    }
    // The tab already holds a newer state of this session: see 'stale-renewal-after-drain'.
    const presented = this.tokens.get(refresh ?? '')
    const held = this.tokens.get((flight.owner as Tab).client?.tokens?.accessToken ?? '')
    if (held && presented && held.family === presented.family && held.gen > presented.gen) {
      this.sentStale.add(flight)
    }
    // A newer state of this session already on its way to the tab: see 'handoff-too-short'.
    for (const task of this.world.hub.deliveries) {
      if (task.owner !== flight.owner) continue
      const message = this.world.hub.dataOf(task) as ChannelMessage
      const info = this.tokens.get(accessTokenOf(message?.session) ?? '')
      if (info && presented && info.family === presented.family && info.gen > presented.gen) {
        this.overtaken.add(flight)
      }
    }
    if (this.world.options.inject === 'second-request' && !this.injected && refresh) {
      this.injected = true
      this.world.injectTokenRequest(refresh, flight.owner)
    }
  }

  /**
   * Backend mode: a refresh request to the session backend. The browser holds one refresh cookie,
   * so two refreshes in flight at once present the same cookie, whatever session the tabs hold:
   * at most one across the tabs that are not gone (invariant 2), with or without a session.
   */
  private backendRequestSent(flight: Flight): void {
    if (this.world.injecting) this.injectedFlights.add(flight)
    this.stats.tokenRequests = (this.stats.tokenRequests ?? 0) + 1
    this.world.log(
      flight.owner,
      () => `#${flight.id} backend refresh with cookie ${this.label(flight.cookie)}`,
    )
    const open = this.world.network
      .open('backend')
      .filter((other) => other.owner.status !== 'crashed')
    if (open.length > 1) {
      this.violation(
        2,
        `${open.length} backend refreshes in flight: ${open.map((f) => `#${f.id} (${f.owner.name})`).join(', ')}`,
        this.classifyConcurrent(open),
      )
    }
    if (this.world.options.inject === 'second-request' && !this.injected && flight.cookie) {
      this.injected = true
      this.world.injectTokenRequest(flight.cookie, flight.owner)
    }
  }

  /** The refresh token a request presents: the form's, or the backend request's cookie. */
  private presented(flight: Flight): string | undefined {
    if (flight.kind === 'backend') return flight.cookie
    if (flight.kind === 'token') return flight.form?.get('refresh_token') ?? undefined
    return undefined
  }

  requestArrived(flight: Flight): void {
    this.api.arrived(flight)
    if (flight.kind === 'backend-logout') {
      // The backend ends the cookie's session (if any) as it acts on the request.
      if (flight.cookie !== undefined) this.backendEnds += 1
      return
    }
    if (flight.kind !== 'token' && flight.kind !== 'backend') return
    const refresh = this.presented(flight)
    if (refresh === undefined) return
    const { state } = this.world.mock.introspect(refresh)
    if (state !== 'rotated') return
    this.stats.reusePresented = (this.stats.reusePresented ?? 0) + 1
    const rotation = this.rotations.get(refresh)
    const what = `#${flight.id} from ${flight.owner.name} presents ${this.label(refresh)}, already rotated`
    if (flight.owner.status === 'crashed') {
      this.stats.limitCrashedRequest = (this.stats.limitCrashedRequest ?? 0) + 1
      this.world.log('LIMIT', () => `${what}: the request of a crashed tab arrived late`)
    } else if (rotation !== undefined && !rotation.delivered) {
      this.stats.limitLostAnswer = (this.stats.limitLostAnswer ?? 0) + 1
      this.world.log('LIMIT', () => `${what}: the answer of its rotation reached no tab`)
    } else {
      this.violation(
        1,
        `${what}, and the answer with ${this.label(rotation?.successor)} reached a tab`,
        this.classifyReuse(flight, refresh, rotation),
      )
    }
  }

  /** Which known bug two token requests of one session in flight show, if any (lease only). */
  private classifyConcurrent(open: readonly Flight[]): KnownBug | undefined {
    if (this.world.options.webLocks || open.some((f) => this.injectedFlights.has(f)))
      return undefined
    const tabs = open.map((flight) => flight.owner as Tab)
    if (tabs.some((tab) => this.leaseReleasedEarly.has(tab))) return 'lease-reentrant'
    if (tabs.some((tab) => this.staleClaim(tab))) return 'lease-stale-claim'
    // Each holder's claim went unheard by the other: neither could see that it lost.
    const [a, b] = tabs
    if (a === undefined || b === undefined || a === b) return undefined
    const claimA = this.lastClaim.get(a)
    const claimB = this.lastClaim.get(b)
    if (claimA === undefined || claimB === undefined) return undefined
    const [earlier, later] = claimA.at <= claimB.at ? [claimA, b] : [claimB, a]
    // A sleep longer than the lapse, after the earlier claim: the wall clock lapsed it.
    if (this.sleeps.some((sleep) => sleep.at >= earlier.sent && sleep.ms >= LOCK_WAIT)) {
      return 'lease-wall-clock'
    }
    const heardAt = this.claimsHeard.get(later)?.get(earlier.key)
    if (heardAt === undefined) return 'lease-unanswered-claim'
    // Heard only once its own window was over: a message slower than CLAIM_WINDOW.
    const own = this.lastClaim.get(later)
    return own !== undefined && heardAt > own.sent + 100 ? 'lease-claim-window' : undefined
  }

  /**
   * Whether `tab` (without Web Locks) is taking the lease on a claim whose window ran far longer
   * than CLAIM_WINDOW (100 ms; a hidden tab's timers may stretch it to a second): it was frozen.
   */
  private staleClaim(tab: Tab): boolean {
    if (this.world.options.webLocks) return false
    const claim = this.lastClaim.get(tab)
    return claim !== undefined && this.now - claim.sent > 1_500
  }

  /** Which known bug a call that failed without excuse shows, if any. */
  private classifyFailure(call: Call): KnownBug | undefined {
    if (this.world.options.webLocks) return undefined
    // A disposed tab kept the lease: siblings wait for it to lapse (LEASE_LAPSE = LOCK_WAIT).
    const since = call.start - LOCK_WAIT - 5_000
    return this.disposedWithLease.some((at) => at >= since && at <= this.now)
      ? 'lease-dispose-no-release'
      : undefined
  }

  /** Which known bug a rotated refresh token presented by a running tab shows, if any. */
  private classifyReuse(
    flight: Flight,
    refresh: string,
    rotation: Rotation | undefined,
  ): KnownBug | undefined {
    if (this.injectedFlights.has(flight)) return undefined
    const tab = flight.owner as Tab
    const presented = this.tokens.get(refresh)
    const newer = (info: TokenInfo) =>
      presented !== undefined && info.family === presented.family && info.gen > presented.gen
    if (rotation?.toDisposed || tab.disposedAt !== undefined) return 'disposed-client-renews'
    if (this.sentStale.has(flight)) return 'stale-renewal-after-drain'
    if (this.watches.get(tab)?.lostInBfcache.some(newer)) return 'bfcache-renewal'
    if (this.overtaken.has(flight)) {
      return this.staleClaim(tab) ? 'lease-stale-claim' : 'handoff-too-short'
    }
    if (this.leaseReleasedEarly.has(tab)) return 'lease-reentrant'
    return undefined
  }

  async requestAnswered(flight: Flight, response: Response): Promise<void> {
    await this.api.answered(flight, response)
    if (flight.kind === 'backend') return this.backendAnswered(flight, response)
    if (flight.kind !== 'token') return
    const refresh = flight.form?.get('refresh_token') ?? undefined
    const presented = refresh === undefined ? undefined : this.tokens.get(refresh)
    let body: { access_token?: string; refresh_token?: string; error?: string } = {}
    try {
      body = (await response.clone().json()) as typeof body
    } catch {}
    if (response.status === 200 && body.access_token && presented) {
      const info = { family: presented.family, gen: presented.gen + 1 }
      this.register(body.access_token, info)
      if (body.refresh_token) {
        this.register(body.refresh_token, info)
        this.rotations.set(refresh as string, {
          successor: body.refresh_token,
          delivered: false,
          toDisposed: false,
        })
      }
      this.answers.set(flight, { rotated: refresh as string, accessToken: body.access_token })
      this.world.log(
        this.world.server,
        () => `#${flight.id} rotates ${this.label(refresh)} -> ${this.label(body.access_token)}`,
      )
    } else if (body.error === 'invalid_grant') {
      const family = this.family(refresh)
      if (family) this.answers.set(flight, { invalidGrant: family })
      this.world.log(
        this.world.server,
        () => `#${flight.id} invalid_grant for ${this.label(refresh)}`,
      )
    }
  }

  /** Backend mode: what a refresh answer brings, and the cookie it sets. */
  private async backendAnswered(flight: Flight, response: Response): Promise<void> {
    const refresh = flight.cookie
    const presented = refresh === undefined ? undefined : this.tokens.get(refresh)
    let body: { accessToken?: string } = {}
    try {
      body = (await response.clone().json()) as typeof body
    } catch {}
    if (response.status === 200 && body.accessToken && presented && refresh) {
      const info = { family: presented.family, gen: presented.gen + 1 }
      this.register(body.accessToken, info)
      const successor = /__Host-refresh=([^;]+)/.exec(response.headers.get('set-cookie') ?? '')?.[1]
      if (successor !== undefined && successor !== refresh) {
        this.register(successor, info)
        this.rotations.set(refresh, { successor, delivered: false, toDisposed: false })
        this.answers.set(flight, { rotated: refresh, accessToken: body.accessToken })
      } else {
        this.answers.set(flight, { accessToken: body.accessToken })
      }
      this.world.log(
        this.world.server,
        () => `#${flight.id} rotates ${this.label(refresh)} -> ${this.label(body.accessToken)}`,
      )
    } else if (response.status === 401) {
      // No session at the backend: the cookie's session (revoked, reused, expired), or none.
      if (refresh !== undefined) this.backendEnds += 1
      const family = this.family(refresh)
      this.answers.set(flight, { invalidGrant: family ?? 'all' })
      this.world.log(
        this.world.server,
        () => `#${flight.id} 401 no session for cookie ${this.label(refresh)}`,
      )
    } else if (response.status === 200 || response.status === 403) {
      this.violation(
        'model',
        `#${flight.id} backend refresh answered ${response.status} unexpectedly`,
      )
    }
  }

  /** Backend mode: the browser stored the refresh cookie of an answer (`undefined`: cleared). */
  cookieStored(flight: Flight, value: string | undefined): void {
    this.world.log(flight.owner, () => `#${flight.id} cookie ${this.label(value)} stored`)
  }

  requestSettled(flight: Flight, outcome: 'response' | 'rejected'): void {
    this.api.settled(flight, outcome)
    const answer = this.answers.get(flight)
    this.answers.delete(flight)
    if (outcome !== 'response' || answer === undefined) return
    if (answer.rotated !== undefined) {
      const rotation = this.rotations.get(answer.rotated)
      if (rotation) {
        rotation.delivered = true
        rotation.toDisposed = (flight.owner as Tab).disposedAt !== undefined
      }
      this.stats.renewals = (this.stats.renewals ?? 0) + 1
      if (this.world.options.inject === 'stale-refresh' && !this.injected) {
        this.injected = true
        this.world.injectTokenRequest(answer.rotated)
      }
    }
    if (answer.accessToken !== undefined)
      this.deliveredTo.set(answer.accessToken, flight.owner as Tab)
    const successor = this.rotations.get(answer.rotated ?? '')?.successor
    if (successor !== undefined) this.deliveredTo.set(successor, flight.owner as Tab)
    if (answer.invalidGrant === 'all') {
      for (const family of this.familyOf.values()) family.invalidGrant = true
    } else if (answer.invalidGrant) answer.invalidGrant.invalidGrant = true
  }

  /** An answer the network loses (for the trace only: delivery decides the limit). */
  answerLost(flight: Flight): void {
    this.world.log(this.world.server, () => `#${flight.id} its answer will be lost`)
  }

  // --- calls ---

  callStarted(tab: Tab, kind: string, probe: boolean, resource?: string): Call {
    const call: Call = {
      id: this.nextCall++,
      tab,
      kind,
      probe,
      resource,
      start: this.now,
      hadSession: tab.client?.tokens !== null,
      backendLive: this.backendLive(),
      backendEnds: this.backendEnds,
      logouts: this.loggingOut.size > 0 ? -1 : this.logouts,
    }
    this.stats.calls = (this.stats.calls ?? 0) + 1
    this.pending.add(call)
    this.world.log(tab, () => `call#${call.id} ${kind}${probe ? ' (probe)' : ''}`)
    return call
  }

  /** Backend mode: whether the browser's refresh cookie holds a session the backend accepts. */
  backendLive(): boolean {
    if (this.world.options.mode !== 'backend') return false
    const cookie = this.world.refreshCookie()
    return cookie !== undefined && this.world.mock.introspect(cookie).state === 'active'
  }

  callEnded(call: Call, outcome: { status?: number; error?: unknown; note?: string }): void {
    if (!this.pending.delete(call)) return
    const { tab } = call
    const { error, status, note } = outcome
    let failure: string | undefined
    if (error !== undefined) {
      if (!isAuthError(error)) {
        const { name, message } = (error ?? {}) as { name?: string; message?: string }
        this.violation(
          5,
          `call#${call.id} ${call.kind} in ${tab.name} rejected with ${name}: ${message}`,
        )
        return
      }
      this.checkLeak(`call#${call.id} error`, error)
      failure = error.code
    } else if (status !== undefined && status !== 200) {
      failure = `HTTP ${status}`
    }
    if (note !== undefined) this.violation('replay', `call#${call.id}: ${note}`)
    this.world.log(tab, () => `call#${call.id} ${call.kind} -> ${failure ?? 'ok'}`)
    if (failure === undefined) return
    this.stats.callsFailed = (this.stats.callsFailed ?? 0) + 1
    if (call.kind === 'logout') {
      this.violation(5, `call#${call.id} logout() failed with ${failure}`)
      return
    }
    const excuse = this.excuse(call, failure)
    if (excuse !== undefined) {
      this.stats.callsExcused = (this.stats.callsExcused ?? 0) + 1
      this.world.log(tab, () => `call#${call.id} failure excused: ${excuse}`)
      return
    }
    // DPoP: a use_dpop_nonce challenge the SDK did not retry, its nonce being known already.
    const unretried = failure === 'HTTP 401' && this.api.endedOnKnownNonce(call.id)
    this.violation(
      5,
      `call#${call.id} ${call.kind} in ${tab.name} failed with ${failure} while the server works and the session is live`,
      unretried ? 'nonce-retry-needs-new-nonce' : this.classifyFailure(call),
      { fatal: !unretried },
    )
  }

  /** Why a failed call is allowed to fail, or `undefined`. */
  private excuse(call: Call, failure: string): string | undefined {
    const watch = this.watches.get(call.tab)
    const end = this.now
    if (this.faults.some((span) => span.from <= end && end <= span.until)) {
      return 'a fault within the recovery window'
    }
    for (const span of this.openFreezes.values()) if (span.from <= end) return 'a tab is frozen'
    if (this.world.options.mode === 'backend') {
      // Invariant 5 in backend mode: a tab without a session asks the backend, so the call must
      // succeed whenever the backend had a live session and kept it.
      if (this.backendEnds !== call.backendEnds)
        return 'the backend ended a session during the call'
      // A logout() in progress ends the backend session: a call meanwhile meets its end.
      if (call.logouts !== this.logouts || this.loggingOut.size > 0) {
        return 'a logout() was in progress during the call'
      }
      if (!call.hadSession && !call.backendLive) {
        this.stats.noSessionAnywhere = (this.stats.noSessionAnywhere ?? 0) + 1
        return 'no session in this tab nor at the backend when the call started'
      }
    } else if (!call.hadSession) {
      const young = HELLO_WAIT + 4 * MESSAGE_DELAY_MAX[this.world.options.messages] + 50
      if (this.now - call.tab.createdAt < young) {
        this.stats.noSessionInNewTab = (this.stats.noSessionInNewTab ?? 0) + 1
      }
      return 'no session in this tab when the call started'
    }
    if (watch && watch.endedAt >= call.start) return 'the session ended during the call'
    if (call.tab.disposedAt !== undefined) return 'the client was disposed during the call'
    if (failure === 'session_expired' || failure === 'no_session') {
      // The session ended in this tab; 'expired'/'logout' fired then (checked in afterStep).
      return undefined
    }
    return undefined
  }

  /** A token handed out by getAccessToken() must be one the server issued. */
  tokenReturned(tab: Tab, token: string, resource?: string): void {
    this.api.tokenReturned(tab, token, resource)
    if (!this.tokens.has(token)) {
      this.violation(
        'tokens',
        `${tab.name} getAccessToken() returned a token the server never issued`,
      )
    }
  }

  /** `tab` calls logout() (`done`: the call returned). */
  logoutCalled(tab: Tab, done = false): void {
    if (!done) this.logouts += 1
    const count = (this.loggingOut.get(tab) ?? 0) + (done ? -1 : 1)
    if (count > 0) this.loggingOut.set(tab, count)
    else this.loggingOut.delete(tab)
  }

  /** Whether a session as new as `family`, or newer, ended the way `ended` says. */
  private endedBy(ended: (family: FamilyInfo) => boolean, family: FamilyInfo): boolean {
    for (const other of this.familyOf.values()) {
      if (ended(other) && other.loginAt >= family.loginAt) return true
    }
    return false
  }

  // --- the browser ---

  fault(at: number, retryAfter: number): void {
    this.faults.push({ from: at, until: at + recoveryWindow(retryAfter) })
  }

  frozen(tab: Tab, _ms: number): void {
    this.tabsMoved()
    this.openFreezes.set(tab, { from: this.now, until: Number.POSITIVE_INFINITY })
  }

  resumed(tab: Tab): void {
    this.tabsMoved()
    const span = this.openFreezes.get(tab)
    this.openFreezes.delete(tab)
    if (span) this.faults.push({ from: span.from, until: this.now + recoveryWindow() })
  }

  slept(ms: number): void {
    this.sleeps.push({ at: this.now, ms })
    this.faults.push({ from: this.now, until: this.now + recoveryWindow() })
  }

  crashed(tab: Tab): void {
    this.tabsMoved()
    for (const call of this.pending) if (call.tab === tab) this.pending.delete(call)
    this.openFreezes.delete(tab)
    // Without Web Locks, a tab gone with the lease leaves its siblings waiting for it to lapse.
    if (!this.world.options.webLocks) this.fault(this.now, 0)
  }

  /** The server revoked every refresh token: sessions end at their next renewal. */
  serverRevoked(): void {
    this.backendEnds += 1
    this.world.log(this.world.server, 'every refresh token revoked')
  }

  disposed(tab: Tab): void {
    this.tabsMoved()
    if (this.world.tabs.some((other) => other !== tab && this.announcedRenewal.has(other)))
      this.disposedDuringSiblingRenewal.add(tab)
    if (this.leaseOpen.has(tab)) this.disposedWithLease.push(this.now)
    this.world.log(tab, 'disposed')
  }

  /** When the last fault's recovery window ends. */
  quietAfterFaults(): number {
    return Math.max(0, ...this.faults.map((span) => span.until))
  }

  // --- after every step, and at the end ---

  afterStep(): void {
    let changed = false
    for (const [tab, watch] of this.watches) {
      if (tab.status === 'crashed' || tab.disposedAt !== undefined) continue
      const tokens = watch.client.tokens
      watch.holding = tokens !== null
      if (tokens !== watch.tokens) {
        changed = true
        if (watch.tokens !== null && tokens === null && watch.ended.length === 0) {
          this.violation(4, `${tab.name} lost its session without 'logout' or 'expired'`)
        }
        watch.tokens = tokens
      }
      if (watch.ended.length > 0) watch.ended.length = 0
    }
    // Checked when the system becomes quiet, and again whenever a tab changes while it is.
    const quiet = this.quiet()
    if (quiet) this.lastQuietAt = this.now
    if (quiet && (changed || !this.wasQuiet || this.tabsChanged)) this.checkConverged()
    this.wasQuiet = quiet
    this.tabsChanged = false
  }

  /** A tab opened, crashed, froze, resumed or was disposed: the set of tabs to compare changed. */
  tabsMoved(): void {
    this.tabsChanged = true
  }

  /** No message on its way, no token request in flight, nobody holding or awaiting the lock. */
  private quiet(): boolean {
    const { hub, network, broker, storageOps, restoring } = this.world
    if (restoring.size > 0) return false
    if (hub.inFlight() || broker.inFlight()) return false
    if (network.tokenRequestInFlight()) return false
    const name = this.world.options.mode === 'backend' ? BACKEND_RENEWAL_LOCK : RENEWAL_LOCK
    const lock = broker.count(undefined, name)
    if (lock.held + lock.pending > 0) return false
    for (const task of storageOps) if (task.owner.status === 'live') return false
    return true
  }

  private checkConverged(): void {
    this.stats.quietChecks = (this.stats.quietChecks ?? 0) + 1
    const running = this.world.tabs.filter((tab) => tab.usable)
    const first = running[0]
    if (first === undefined) return
    const reference = JSON.stringify(first.client?.tokens ?? null)
    if (running.some((tab) => JSON.stringify(tab.client?.tokens ?? null) !== reference)) {
      const held = running.map(
        (tab) => `${tab.name}=${this.label(tab.client?.tokens?.accessToken)}`,
      )
      this.violation(
        3,
        `quiet, but the tabs hold different sessions: ${held.join(' ')}`,
        this.classifyDivergence(running),
      )
      return
    }
    const refresh = first.client?.tokens?.refreshToken
    if (refresh === undefined) return
    const { state } = this.world.mock.introspect(refresh)
    const rotation = this.rotations.get(refresh)
    if (state === 'rotated' && rotation?.delivered) {
      this.violation(
        3,
        `every tab holds ${this.label(refresh)}, but its successor ${this.label(rotation.successor)} reached a tab`,
        rotation.toDisposed ? 'disposed-client-renews' : undefined,
      )
    }
  }

  /** Which known bug tabs that hold different sessions when quiet show, if any. */
  private classifyDivergence(running: readonly Tab[]): KnownBug | undefined {
    // A tab still holds a refresh token whose rotation only a disposed client received.
    const stale = running.some(
      (tab) => this.rotations.get(tab.client?.tokens?.refreshToken ?? '')?.toDisposed,
    )
    if (stale) return 'disposed-client-renews'
    return this.missedEnd(running) ? 'hello-unanswered' : undefined
  }

  /**
   * The signature of 'hello-unanswered': every other tab holds no session, and each tab that
   * still holds one holds a session that a session as new or newer (itself, or a later login)
   * ended elsewhere, and it never fired that end.
   */
  private missedEnd(running: readonly Tab[]): boolean {
    const holders = running.filter((tab) => tab.client?.tokens)
    if (holders.length === running.length) return false
    return holders.every((tab) => {
      const info = this.tokens.get(tab.client?.tokens?.accessToken ?? '')
      const watch = this.watches.get(tab)
      if (info === undefined || watch === undefined) return false
      const loginAt = this.familyOf.get(info.family)?.loginAt ?? 0
      return [...this.endedFamilies].some(
        (family) =>
          (this.familyOf.get(family)?.loginAt ?? 0) >= loginAt && !watch.endedHere.has(family),
      )
    })
  }

  /** The probe has started: from now on the system must get quiet again. */
  probeStarted(): void {
    this.probeStartedAt = this.now
  }

  /** Whether the system was quiet at some point since the probe started. */
  quietSinceProbe(): boolean {
    return this.lastQuietAt >= this.probeStartedAt
  }

  /** Whether every call of a tab that is not gone has settled. */
  callsDone(): boolean {
    for (const call of this.pending) if (call.tab.status !== 'crashed') return false
    return true
  }

  finish(): void {
    if (this.quiet()) {
      this.lastQuietAt = this.now
      this.checkConverged()
    }
    for (const call of this.pending) {
      if (call.tab.status === 'crashed') continue
      // A resource's renewal waits for a sibling's renewal that sent no outcome: known-bugs.ts.
      const stuck =
        call.resource !== undefined &&
        (this.world.tabs.some((t) => this.announcedRenewal.has(t)) ||
          this.disposedDuringSiblingRenewal.has(call.tab))
      this.violation(
        'settle',
        `call#${call.id} ${call.kind} in ${call.tab.name} never settled`,
        stuck ? 'resource-renewal-waits-for-silent-sibling' : undefined,
      )
    }
    for (const tab of this.world.tabs) {
      if (tab.disposedAt === undefined || tab.status === 'crashed') continue
      const locks = this.world.broker.count(tab)
      const left = [
        tab.timers.size
          ? `${tab.timers.size} timer(s): ${[...tab.timers.values()].map((t) => labelText(t.label)).join(', ')}`
          : '',
        locks.held + locks.pending ? `${locks.held} lock(s) held, ${locks.pending} awaited` : '',
        this.world.hub.openChannels(tab) ? 'an open channel' : '',
        tab.page.listenerCount()
          ? `listeners (${[...tab.page.window.types(), ...tab.page.documentListeners.types()].join(', ')})`
          : '',
      ].filter(Boolean)
      if (left.length > 0) this.violation(6, `disposed ${tab.name} left ${left.join('; ')}`)
    }
    if (this.probeStartedAt < Number.POSITIVE_INFINITY && this.lastQuietAt < this.probeStartedAt) {
      this.violation(3, 'the tabs never got quiet after the probe')
    }
    const reuse = this.world.mock.counters.reuseDetected
    const seen = this.stats.reusePresented ?? 0
    if (reuse > seen)
      this.violation('model', `the mock detected ${reuse} reuses, the monitor ${seen}`)
  }

  // --- token values ---

  /** Invariant 7: no token value anywhere in `error`. */
  checkLeak(where: string, error: unknown): void {
    const text = collectText(error, 0, new Set())
    if (TOKEN_SHAPE.test(text)) this.violation(7, `${where} contains a token value`)
  }
}

/** Every string reachable from an error: message, stack, enumerable fields, cause, recursively. */
function collectText(value: unknown, depth: number, seen: Set<unknown>): string {
  if (value === null || value === undefined || depth > 4) return ''
  if (typeof value === 'string') return value
  if (typeof value !== 'object' && typeof value !== 'function') return String(value)
  if (seen.has(value)) return ''
  seen.add(value)
  const parts: string[] = []
  if (value instanceof Error) {
    // The stack holds the message and frames (no token beyond the message); runs keep no stacks.
    parts.push(value.message, String(value))
    parts.push(collectText((value as { cause?: unknown }).cause, depth + 1, seen))
  }
  for (const key of Object.keys(value)) {
    parts.push(key, collectText((value as Record<string, unknown>)[key], depth + 1, seen))
  }
  return parts.join('\n')
}
