/**
 * One simulated browser with 2-8 tabs of one origin, each running the real SDK, against the mock
 * token server; and the app and the user acting on it at moments the seed picks. Everything
 * random comes from the seed's streams; everything timed is a task of the scheduler.
 */
import { createTokenClient, type TokenClient, type TokenClientOptions } from 'freshtoken'
import { createMockTokenServer, type MockTokenServer } from 'freshtoken/testing'
import { thumbprint } from './api-watch.js'
import { BroadcastHub } from './channel.js'
import { installGlobals, type TabGlobals } from './globals.js'
import { LockBroker } from './locks.js'
import { Monitor } from './monitor.js'
import {
  API_ORIGIN,
  BACKEND_LOGOUT_PATH,
  BACKEND_REFRESH_PATH,
  type Flight,
  Network,
  type OutboundFault,
  type ReturnFault,
} from './network.js'
import {
  CALL_DEADLINE,
  MESSAGE_DELAY_MAX,
  PLAIN_API,
  RESOURCE_APIS,
  type SimOptions,
  WALL_START,
} from './options.js'
import { Page, SimStorage } from './page.js'
import { createRandom, type Random } from './random.js'
import { type Context, type Label, labelText, Scheduler, type Task } from './scheduler.js'
import { createFakeIndexedDB, createFakeSubtle, type FakeKey } from './webcrypto.js'

const ORIGIN = 'https://app.example.com'
const ISSUER = 'https://auth.example.com'
/** The session backend's CSRF header (backend mode): the mock answers 403 without it. */
const CSRF_HEADER = ['X-CSRF', '1'] as const
/** The session backend's refresh cookie (the mock's `MOCK_REFRESH_COOKIE`). */
const REFRESH_COOKIE = '__Host-refresh'
/** Where the SDK keeps client `spa`'s DPoP keys: database, object store, key (src/dpop/key-store.ts). */
const DPOP_KEYS = ['freshtoken-dpop', 'keys', 'freshtoken:spa'] as const

/** An API the tabs call: its origin and the resource whose tokens it takes (`null`: the session's). */
export interface SimApi {
  readonly origin: string
  readonly resource: string | null
}

/** The APIs of a seed: one without resource indicators, else the resources' and {@link PLAIN_API}. */
export function apisOf(options: SimOptions): SimApi[] {
  if (options.resources === 0) return [{ origin: API_ORIGIN, resource: null }]
  return [
    ...RESOURCE_APIS.slice(0, options.resources).map(({ origin, resource }) => ({
      origin,
      resource,
    })),
    { origin: PLAIN_API, resource: null },
  ]
}

/** The backend's token answer in the mock's 'camel' shape. */
interface CamelBody {
  readonly accessToken?: unknown
  readonly expiresIn?: unknown
  readonly refreshExpiresIn?: unknown
}
/** A run that takes more steps than this is a storm (or a simulator bug): it stops and fails. */
const MAX_STEPS = 60_000
/** After the app stops acting: at least this long for everything to settle. */
const SETTLE_MIN = 10_000

/** One tab: a browsing context with its page, its globals, and (usually) one SDK client. */
export class Tab implements Context, TabGlobals {
  status: Context['status'] = 'live'
  readonly held: Task[] = []
  readonly timers = new Map<number, Task>()
  readonly navigator: { readonly locks: LockManager | undefined; readonly onLine: boolean }
  client: TokenClient | undefined
  /** When `dispose()` was called, if it was. */
  disposedAt: number | undefined
  /** Frozen into the back/forward cache: messages sent meanwhile are lost. */
  bfcache = false
  readonly createdAt: number

  constructor(
    readonly index: number,
    readonly page: Page,
    locks: LockManager | undefined,
    now: number,
  ) {
    this.navigator = { locks, onLine: true }
    this.createdAt = now
  }

  get name(): string {
    return `tab${this.index}`
  }

  hidden(): boolean {
    return this.page.document.visibilityState === 'hidden'
  }

  /** Whether the app still uses this tab's client. */
  get usable(): boolean {
    return this.status === 'live' && this.client !== undefined && this.disposedAt === undefined
  }
}

/** The world context: the token server and the network, and the director. Never frozen. */
class WorldContext implements Context {
  readonly name = 'server'
  status: Context['status'] = 'live'
  readonly held: Task[] = []
  readonly timers = new Map<number, Task>()
  hidden(): boolean {
    return false
  }
}

/** A run's outcome. */
export interface RunResult {
  readonly options: SimOptions
  readonly trace: readonly string[]
  readonly violations: readonly string[]
  /** Violations with the signature of a known, unfixed SDK bug: the seed does not fail. */
  readonly known: readonly string[]
  readonly stats: Readonly<Record<string, number>>
}

/** How to run. */
export interface RunFlags {
  /** Check after every step that no platform code runs later (the attribution assumption). */
  readonly strict?: boolean
  /** Keep running after the first violation (to see what follows). */
  readonly keepGoing?: boolean
  /** Record the trace (off for bulk runs: a failing seed is replayed with it). */
  readonly trace?: boolean
}

/** The simulated browser, server and app of one seed. */
export class World {
  readonly scheduler: Scheduler
  readonly server = new WorldContext()
  readonly hub: BroadcastHub
  readonly broker: LockBroker
  readonly network: Network
  readonly mock: MockTokenServer
  readonly localStorage = new SimStorage()
  readonly tabs: Tab[] = []
  readonly trace: string[] = []
  readonly monitor: Monitor
  /** Async storage operations not yet done. */
  readonly storageOps = new Set<Task>()
  /** 'pageshow' events of restored pages not yet fired: those tabs are still catching up. */
  readonly restoring = new Set<Task>()
  private readonly scenario: Random
  private readonly net: Random
  private readonly sdk: Random
  private readonly bytes: Random
  /** DPoP and resource indicators: the world's own draws (logins bound or not, nonce rotations). */
  private readonly features: Random
  /** The browser's WebCrypto and IndexedDB (see webcrypto.ts). */
  readonly crypto: ReturnType<typeof createFakeSubtle>
  readonly indexedDB: ReturnType<typeof createFakeIndexedDB>
  /** The APIs the tabs call. */
  readonly apis: readonly SimApi[]
  /** Whether DPoP or resource indicators are on (calls then carry their id in the URL). */
  readonly featured: boolean
  private acting = true
  /** Set while the test side sends a request (an injection), for the monitor. */
  injecting = false
  private readonly tracing: boolean
  /** When the app stopped acting and every fault ended: the probe runs after the recovery window. */
  private probeAt = Number.POSITIVE_INFINITY
  /**
   * Backend mode: the browser's refresh cookie (one browser, so one jar for every tab). The sim
   * keeps it, not the mock: the browser attaches it when a request is sent and stores a
   * `Set-Cookie` when the answer reaches a fetch that still waits for it, so a lost answer, an
   * aborted fetch or a crashed tab's answer leaves the old cookie, as in a browser.
   */
  private cookie: { value: string; expiresAt: number } | undefined

  constructor(
    readonly options: SimOptions,
    private readonly flags: RunFlags = {},
  ) {
    const { seed } = options
    this.tracing = flags.trace !== false
    this.scenario = createRandom(seed, 'scenario')
    this.net = createRandom(seed, 'network')
    this.sdk = createRandom(seed, 'sdk')
    this.bytes = createRandom(seed, 'bytes')
    this.features = createRandom(seed, 'features-world')
    this.apis = apisOf(options)
    this.featured = options.dpop || options.resources > 0
    this.scheduler = new Scheduler(WALL_START, {
      step: (task) => this.log(task.owner, task.label),
      outside: (what) =>
        this.monitor.violation('attribution', `platform call ${what} outside any tab's step`),
      mayOwnTimers: (context) => context instanceof Tab,
      uncaught: (task, error) => {
        const { name, message } = (error ?? {}) as { name?: string; message?: string }
        const sessionGone =
          task.kind === 'timer' &&
          (name === 'NoSessionError' || name === 'SessionExpiredError') &&
          task.owner instanceof Tab &&
          task.owner.client?.tokens === null
        this.monitor.violation(
          'uncaught',
          `${task.owner.name}'s task "${labelText(task.label)}" threw ${name}: ${message}`,
          sessionGone ? 'resource-timer-after-end' : undefined,
          { fatal: !sessionGone },
        )
      },
    })
    this.monitor = new Monitor(this)
    this.crypto = createFakeSubtle(createRandom(seed, 'keys'), {
      generated: (x) =>
        this.log(
          this.scheduler.owner('generateKey') ?? this.server,
          () => `new DPoP key ${x.slice(0, 6)}`,
        ),
      signed: (input) => this.monitor.api.signed(input),
    })
    this.indexedDB = createFakeIndexedDB(this.scheduler, () => this.net.int(0, 3))
    this.hub = new BroadcastHub(this.scheduler, {
      delay: () => this.messageDelay(),
      describe: (data) => this.monitor.describeMessage(data),
      posted: (from, label, data) => {
        if (from instanceof Tab) this.monitor.posted(from, data)
        this.log(from, () => `posts ${label()}`)
      },
      delivery: (to, data) => {
        if (to instanceof Tab) this.monitor.delivery(to, data)
      },
      allow: (_from, to, data) =>
        !(
          options.inject === 'lose-session-messages' &&
          to === this.tabs[1] &&
          (data as { type?: string })?.type === 'session'
        ),
    })
    this.broker = new LockBroker(this.scheduler, {
      delay: () => this.net.int(0, 2),
      note: (owner, text) => this.log(owner, text),
      unsupported: (what) => this.monitor.violation('model', `unsupported: ${what}`),
    })
    const [main, ...others] = this.apis as [SimApi, ...SimApi[]]
    this.mock = createMockTokenServer({
      issuer: ISSUER,
      clientId: 'spa',
      apiOrigin: main.origin,
      allowedOrigins: [ORIGIN],
      accessTokenLifetime: options.lifetime,
      tokenFormat: options.tokenFormat,
      ...(options.resources > 0
        ? {
            resources: RESOURCE_APIS.map((api) => api.resource),
            apiResource: main.resource,
            apis: others,
          }
        : {}),
      ...(options.dpop
        ? { dpop: { required: true, nonce: options.nonces, apiNonce: options.nonces } }
        : {}),
      ...(options.mode === 'backend'
        ? {
            appOrigin: ORIGIN,
            backend: { csrfHeader: CSRF_HEADER, shape: 'camel' as const },
          }
        : {}),
    })
    this.network = new Network(this.scheduler, this.server, this.mock.handlers, {
      latency: (flight, leg) => this.latency(flight, leg),
      outboundFault: (flight) => this.outboundFault(flight),
      returnFault: (flight) => this.returnFault(flight),
      cookies: () => {
        const refresh = this.refreshCookie()
        // Other cookies of the origin travel too; the mock reads the header, not its own jar.
        return {
          header: `theme=dark${refresh === undefined ? '' : `; ${REFRESH_COOKIE}=${refresh}`}`,
          refresh,
        }
      },
      received: (flight, response) => this.storeCookie(flight, response),
      sent: (flight) => this.monitor.requestSent(flight),
      arrived: (flight) => this.monitor.requestArrived(flight),
      answered: (flight, response) => this.monitor.requestAnswered(flight, response),
      settled: (flight, outcome) => this.monitor.requestSettled(flight, outcome),
      broken: (what) => this.monitor.violation('model', what),
      trace: (owner, text) => this.log(owner, text),
    })
  }

  /**
   * Adds a line to the trace: time in seconds, who, what. Untraced runs (the bulk of seeds) skip
   * it; a failing seed is run again with its trace, which the seed reproduces exactly.
   */
  log(owner: Context | string, text: Label): void {
    if (!this.tracing) return
    const who = typeof owner === 'string' ? owner : owner.name
    this.trace.push(`${(this.scheduler.now / 1000).toFixed(3)} ${who} ${labelText(text)}`)
  }

  /** Runs the seed to its end. */
  async run(): Promise<RunResult> {
    const restore = installGlobals({
      scheduler: this.scheduler,
      world: this.server,
      hub: this.hub,
      random: this.sdk,
      bytes: this.bytes,
      localStorage: this.localStorage,
      subtle: this.crypto.subtle,
      indexedDB: this.indexedDB.factory,
      origin: ORIGIN,
      pageOf: (context) => (context instanceof Tab ? context : undefined),
    })
    // No stack traces while a seed runs: nothing reads them, and capturing one for every
    // AbortError and AuthError the SDK creates costs more than the rest of the step.
    const stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      this.start()
      // After a violation the run stops at once; the end-of-run checks would only add noise.
      if (await this.loop()) this.monitor.finish()
    } finally {
      Error.stackTraceLimit = stackTraceLimit
      restore()
    }
    return {
      options: this.options,
      trace: this.trace,
      violations: this.monitor.violations,
      known: this.monitor.known,
      stats: {
        steps: this.scheduler.steps,
        simulatedMs: this.scheduler.now,
        ...this.monitor.stats,
        ...(this.featured ? this.monitor.api.stats : {}),
      },
    }
  }

  /** Runs every phase; false when it stopped early at a violation. */
  private async loop(): Promise<boolean> {
    const { scheduler, options } = this
    let phase: 'act' | 'settle' | 'probe' | 'drain' = 'act'
    let until = options.duration
    let drainExtended = false
    for (;;) {
      const task = scheduler.next(until)
      if (task === undefined) {
        scheduler.now = Math.max(scheduler.now, until)
        if (phase === 'act') {
          phase = 'settle'
          this.stopActing()
          until = this.probeAt
        } else if (phase === 'settle') {
          phase = 'probe'
          this.probe()
          until = scheduler.now + CALL_DEADLINE
        } else if (phase === 'probe') {
          phase = 'drain'
          until = scheduler.now + 1_000
        } else if (!drainExtended && !this.monitor.quietSinceProbe()) {
          // Not quiet yet: a hidden tab's hand-off timer fires on the next whole second (seen
          // after the probe's last call settled within a second of it). Once more, long enough.
          // With resource indicators, each resource's token and the session's are renewed on
          // schedules of their own, one after the other (seed 46 with '{"dpop":true,"resources":2}':
          // a renewal every ~3 s, each holding the lock for up to 2 s in hidden tabs; seed 1381:
          // three 5 s tokens, a renewal a second): the next quiet moment may be a while away.
          drainExtended = true
          until =
            scheduler.now +
            (this.options.resources > 0 ? Math.max(10_000, this.options.lifetime) : 2_000)
        } else {
          return true
        }
        continue
      }
      await scheduler.run(task, this.flags.strict === true)
      this.monitor.afterStep()
      if (this.monitor.found && !this.flags.keepGoing) return false
      if (scheduler.steps > MAX_STEPS) {
        this.monitor.violation('storm', `more than ${MAX_STEPS} steps`)
        return false
      }
      if (phase === 'probe' && this.monitor.callsDone()) {
        // Every call settled (each may take up to CALL_DEADLINE): a moment more, then the checks.
        phase = 'drain'
        until = scheduler.now + 1_000
      }
    }
  }

  private start(): void {
    for (let i = 0; i < this.options.tabs; i++) this.openTab(this.scheduler.now + i)
    // The user logs in in the first tab, once it is up.
    const first = this.tabs[0] as Tab
    this.scheduler.schedule(first, 50, 'action', 'app: login', () => this.act(first, 'login'))
    this.scheduler.schedule(this.server, 100, 'sim', 'director starts', () => this.direct())
    if (this.options.dpop && this.options.nonces) this.scheduleNonceRotation()
    if (this.options.inject === 'foreign-audience') {
      this.scheduler.schedule(
        this.server,
        this.options.duration / 2,
        'sim',
        'foreign audience',
        () => this.sendForeignAudience(),
      )
    }
    if (this.options.inject === 'forged-logout') {
      this.scheduler.schedule(this.server, this.options.duration / 2, 'sim', 'forged logout', () =>
        this.forgeLogout(),
      )
    }
  }

  /** The app stops acting: frozen tabs come back, and the settling phase begins. */
  private stopActing(): void {
    this.acting = false
    this.log(this.server, 'the app stops acting; frozen tabs resume')
    for (const tab of this.tabs) if (tab.status === 'frozen') this.resume(tab)
    const settled = Math.max(this.scheduler.now + SETTLE_MIN, this.monitor.quietAfterFaults())
    this.probeAt = settled
  }

  /** Every tab in use calls once more; the server works and has worked for long enough. */
  private probe(): void {
    this.log(this.server, 'probe: every tab calls the API and asks for a token')
    this.monitor.probeStarted()
    for (const tab of this.tabs) {
      if (!tab.usable) continue
      this.scheduler.schedule(tab, 0, 'action', 'probe', () => {
        if (!this.featured) {
          this.call(tab, 'fetch', true)
          this.call(tab, 'token', true)
          return
        }
        // Every API, and a token of every resource.
        for (const api of this.apis) {
          this.call(tab, 'fetch', true, api)
          this.call(tab, 'token', true, api)
        }
      })
    }
  }

  /** Opens a tab: its client is created in its own first step. */
  openTab(at: number, sessionStorage = new SimStorage()): Tab {
    const index = this.tabs.length + 1
    const page = new Page(ORIGIN, sessionStorage)
    const tab = new Tab(index, page, undefined, at)
    const locks = this.options.webLocks ? this.broker.managerFor(tab, `client-${index}`) : undefined
    ;(tab as { navigator: Tab['navigator'] }).navigator = { locks, onLine: true }
    this.tabs.push(tab)
    this.scheduler.schedule(
      tab,
      at - this.scheduler.now,
      'action',
      'opens: createTokenClient',
      () => this.createClient(tab),
    )
    return tab
  }

  /** Backend mode: the refresh cookie the browser holds now, if any (expired ones are gone). */
  refreshCookie(): string | undefined {
    const cookie = this.cookie
    if (cookie === undefined) return undefined
    if (this.scheduler.wall() < cookie.expiresAt) return cookie.value
    this.cookie = undefined
    return undefined
  }

  /** Backend mode: the browser stores the refresh cookie a backend answer sets (or clears). */
  private storeCookie(flight: Flight, response: Response): void {
    const header = response.headers.get('set-cookie')
    if (header === null) return
    const match = new RegExp(`^${REFRESH_COOKIE}=([^;]*)(?:;.*?Max-Age=(\\d+))?`, 'i').exec(header)
    if (match === null) return
    const value = match[1] ?? ''
    const maxAge = Number(match[2] ?? 0) * 1_000
    this.cookie =
      value === '' || maxAge <= 0 ? undefined : { value, expiresAt: this.scheduler.wall() + maxAge }
    this.monitor.cookieStored(flight, this.cookie?.value)
  }

  private createClient(tab: Tab): void {
    const mode: Partial<TokenClientOptions> =
      this.options.mode === 'backend'
        ? {
            backend: {
              refresh: BACKEND_REFRESH_PATH,
              logout: BACKEND_LOGOUT_PATH,
              headers: { [CSRF_HEADER[0]]: CSRF_HEADER[1] },
              response: (body: unknown) => {
                const { accessToken, expiresIn, refreshExpiresIn } = (body ?? {}) as CamelBody
                return {
                  access_token: accessToken as string,
                  token_type: 'Bearer',
                  ...(typeof expiresIn === 'number' ? { expires_in: expiresIn } : {}),
                  ...(typeof refreshExpiresIn === 'number'
                    ? { refresh_expires_in: refreshExpiresIn }
                    : {}),
                }
              },
            },
          }
        : {
            clientId: 'spa',
            tokenEndpoint: `${ISSUER}/oauth/token`,
            revocationEndpoint: `${ISSUER}/oauth/revoke`,
          }
    const options: TokenClientOptions = {
      ...mode,
      apiOrigins: this.apis.map(({ origin, resource }) =>
        resource === null ? origin : { origin, resource },
      ),
      ...(this.options.dpop ? { dpop: true } : {}),
      storage: this.storageFor(tab),
      fetch: this.network.fetchFor(tab),
      ...(this.options.leeway === undefined ? {} : { refreshLeeway: this.options.leeway }),
    }
    const client = createTokenClient(options)
    tab.client = client
    this.monitor.clientCreated(tab, client)
  }

  private storageFor(tab: Tab): NonNullable<TokenClientOptions['storage']> {
    const { storage } = this.options
    if (storage === 'memory' || storage === 'session' || storage === 'local') return storage
    const store = this.localStorage
    if (storage === 'custom') {
      return {
        get: (key) => store.getItem(key),
        set: (key, value) => store.setItem(key, value),
        remove: (key) => store.removeItem(key),
      }
    }
    // An IndexedDB-like store: each operation happens in a later task of the tab that asked.
    const later = <T>(label: string, op: () => T): Promise<T> =>
      new Promise((resolve) => {
        const task = this.scheduler.schedule(tab, this.net.int(0, 5), 'storage', label, () => {
          this.storageOps.delete(task)
          resolve(op())
        })
        this.storageOps.add(task)
      })
    return {
      get: (key) => later('storage get', () => store.getItem(key)),
      set: (key, value) => later('storage set', () => store.setItem(key, value)),
      remove: (key) => later('storage remove', () => store.removeItem(key)),
    }
  }

  /** The director: one app or browser action, then the next one a random while later. */
  private direct(): void {
    if (!this.acting) return
    this.chooseAction()
    const wait = -Math.log(1 - this.scenario.next()) * this.options.actionEvery
    this.scheduler.schedule(this.server, Math.max(1, Math.round(wait)), 'sim', 'director', () =>
      this.direct(),
    )
  }

  private chooseAction(): void {
    const r = this.scenario
    const usable = this.tabs.filter((tab) => tab.usable)
    const live = this.tabs.filter((tab) => tab.status === 'live')
    // Backend mode: the session is the browser's cookie, whether a tab picked it up yet or not.
    const anySession =
      this.options.mode === 'backend'
        ? this.monitor.backendLive()
        : usable.some((tab) => tab.client?.tokens)
    const chaos = { calm: 0.3, normal: 1, wild: 3 }[this.options.chaos]
    type Choice =
      | 'fetch'
      | 'post'
      | 'ky'
      | 'token'
      | 'refresh'
      | 'login'
      | 'logout'
      | 'dispose'
      | 'open'
      | 'crash'
      | 'reload'
      | 'freeze'
      | 'visibility'
      | 'focus'
      | 'online'
      | 'sleep'
      | 'revoke'
      | 'burst'
    // The user always has the app open somewhere: with no tab in use, one opens.
    const choice =
      usable.length === 0
        ? 'open'
        : r.weighted<Choice>([
            ['fetch', 30],
            ['post', 4],
            ['ky', 4],
            ['token', 10],
            ['refresh', 3],
            ['burst', 2],
            ['login', anySession ? 1.5 : 12],
            ['logout', 1.5],
            ['dispose', 0.7],
            ['open', live.length < this.options.maxTabs ? 2 : 0],
            ['crash', 0.6 * chaos],
            ['reload', 0.6 * chaos],
            ['freeze', 0.8 * chaos],
            ['visibility', 3],
            ['focus', 1.5],
            ['online', 0.5],
            ['sleep', 0.4 * chaos],
            ['revoke', 0.4],
          ])
    if (choice === 'open') {
      this.openTab(this.scheduler.now)
      return
    }
    if (choice === 'sleep') {
      this.sleep()
      return
    }
    if (choice === 'revoke') {
      // Backend mode: the backend ends its session server-side (the cookie stays, refused).
      this.mock.revokeRefreshTokens()
      this.monitor.serverRevoked()
      return
    }
    if (choice === 'crash' || choice === 'reload' || choice === 'freeze') {
      // Keep at least one tab in use, so the session has somewhere to live.
      if (usable.length < 2) return
      const tab = r.pick(live)
      if (choice === 'freeze') this.freeze(tab)
      else this.crash(tab, choice === 'reload')
      return
    }
    if (choice === 'dispose' && usable.length < 2) return
    const tab = r.pick(usable)
    if (choice === 'visibility' || choice === 'focus' || choice === 'online') {
      this.scheduler.schedule(tab, 0, 'page', choice, () => {
        if (choice === 'focus') tab.page.fire('focus')
        else if (choice === 'online') tab.page.fire('online')
        else tab.page.setVisibility(tab.hidden() ? 'visible' : 'hidden')
      })
      return
    }
    this.scheduler.schedule(tab, 0, 'action', `app: ${choice}`, () => this.act(tab, choice))
  }

  /** An app action, in the tab's own step. */
  private act(tab: Tab, action: string): void {
    const client = tab.client
    if (!tab.usable || client === undefined) return
    switch (action) {
      case 'login': {
        if (this.options.mode === 'backend') {
          this.signIn(tab)
          return
        }
        const response = this.mock.issueTokens(this.options.dpop ? this.loginBinding() : {})
        this.monitor.loggedIn(tab, response)
        try {
          client.setTokens(response)
        } catch (error) {
          this.monitor.violation(5, `setTokens threw ${String(error)}`)
        }
        return
      }
      case 'dispose':
        client.dispose()
        tab.disposedAt = this.scheduler.now
        this.monitor.disposed(tab)
        if (this.options.inject === 'leak-after-dispose') {
          setTimeout(() => undefined, 3_600_000)
          globalThis.addEventListener('focus', () => undefined)
        }
        return
      case 'burst':
        for (let i = 0; i < 5; i++) this.call(tab, i % 2 ? 'token' : 'fetch')
        return
      case 'fetch':
      case 'post':
      case 'ky':
      case 'token':
      case 'refresh':
      case 'logout':
        this.call(tab, action)
        return
    }
  }

  /**
   * Backend mode: the user signs in at the backend (server-side, as a login page would): a new
   * session whose refresh cookie lands in the browser's jar. The tabs pick it up at their next
   * call or renewal; nothing is handed to the SDK. This is what the mock's `signIn()` does, but
   * into the jar the sim keeps for the browser (the mock's own jar is private to it).
   */
  private signIn(tab: Tab): void {
    const response = this.mock.issueTokens()
    const refresh = response.refresh_token as string
    const expiresAt = this.mock.introspect(refresh).expiresAt ?? Number.POSITIVE_INFINITY
    this.cookie = { value: refresh, expiresAt }
    this.monitor.loggedIn(tab, response)
  }

  /**
   * DPoP: the key a login binds the session to. A real sign-in makes a key and sends its
   * thumbprint (`dpop_jkt`); here the app hands the tokens over with `setTokens`, which records no
   * key, so the SDK signs with the newest key of its store: the login binds to that one, made
   * now (as the SDK's sign-in would) if the store has none. One login in five is not bound (the
   * server then binds only the access tokens of later refreshes, and the tabs make the key).
   */
  private loginBinding(): { jkt?: string } {
    if (!this.features.chance(0.8)) return {}
    const [database, store, key] = DPOP_KEYS
    const keys = this.indexedDB.peek(database, store, key) as { jkt: string }[] | undefined
    const newest = keys?.[0]?.jkt
    if (newest !== undefined) return { jkt: newest }
    const pair = this.crypto.generate()
    const { x, y } = pair.publicKey as Required<Pick<FakeKey, 'x' | 'y'>>
    const jkt = thumbprint({ crv: 'P-256', kty: 'EC', x, y })
    this.indexedDB.put(database, store, key, [{ jkt, pair }])
    return { jkt }
  }

  /** DPoP nonces: the token server or an API (or all) rotate theirs, at seeded times. */
  private scheduleNonceRotation(): void {
    const r = this.features
    const wait = Math.max(1, Math.round(-Math.log(1 - r.next()) * this.options.nonceRotateEvery))
    this.scheduler.schedule(this.server, wait, 'sim', 'nonce rotation', () => {
      if (!this.acting) return
      const targets = [`${ISSUER}/oauth/token`, ...this.apis.map((api) => `${api.origin}/me`)]
      const target = r.chance(0.15) ? undefined : r.pick(targets)
      this.mock.rotateDPoPNonce(target)
      this.log(this.server, () => `rotates the DPoP nonce of ${target ?? 'every party'}`)
      this.scheduleNonceRotation()
    })
  }

  /** Starts one call and reports how it ends (`api`: to that API, or for that resource's token). */
  private call(
    tab: Tab,
    kind: 'fetch' | 'post' | 'ky' | 'token' | 'refresh' | 'logout',
    probe = false,
    api?: SimApi,
  ): void {
    const client = tab.client
    if (client === undefined) return
    // With several APIs, each call picks one; its id in the URL ties its requests together.
    const target =
      api ?? (this.apis.length > 1 ? this.scenario.pick(this.apis) : (this.apis[0] as SimApi))
    const resourceCall =
      target.resource !== null && ['fetch', 'post', 'ky', 'token'].includes(kind)
        ? target.resource
        : undefined
    const call = this.monitor.callStarted(tab, kind, probe, resourceCall)
    const done = (outcome: { status?: number; error?: unknown; note?: string }) =>
      this.monitor.callEnded(call, outcome)
    const query = this.featured ? `?call=${call.id}` : ''
    const me = `${target.origin}/me${query}`
    let promise: Promise<{ status?: number; note?: string }>
    switch (kind) {
      case 'fetch':
        promise = client.fetch(me).then((response) => ({ status: response.status }))
        break
      case 'post': {
        const body = JSON.stringify({ call: call.id })
        promise = client
          .fetch(`${target.origin}/echo${query}`, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json' },
          })
          .then(async (response) => {
            if (response.status !== 200) return { status: response.status }
            const echoed = (await response.json()) as { body?: unknown }
            return echoed.body === body
              ? { status: 200 }
              : { status: 200, note: 'the API received another body' }
          })
        break
      }
      case 'ky':
        promise = client.ky
          .get(me, { timeout: false, retry: 0 })
          .json()
          .then(
            () => ({ status: 200 }),
            (error: unknown) => {
              const status = (error as { response?: Response }).response?.status
              if ((error as Error)?.name === 'HTTPError' && status !== undefined) return { status }
              throw error
            },
          )
        break
      case 'token': {
        const resource = target.resource ?? undefined
        promise = client
          .getAccessToken(resource === undefined ? undefined : { resource })
          .then((token) => {
            this.monitor.tokenReturned(tab, token, resource)
            return {}
          })
        break
      }
      case 'refresh':
        promise = client.refresh().then(() => ({}))
        break
      case 'logout':
        this.monitor.logoutCalled(tab)
        promise = client
          .logout()
          .finally(() => this.monitor.logoutCalled(tab, true))
          .then(() => ({}))
        break
    }
    promise.then(done, (error: unknown) => done({ error }))
  }

  /** The tab is closed or crashes at an await point: everything it was doing vanishes. */
  crash(tab: Tab, reload: boolean): void {
    this.log(
      this.server,
      () => `${tab.name} ${reload ? 'reloads (the old page is gone)' : 'crashes'}`,
    )
    tab.status = 'crashed'
    tab.held.length = 0
    tab.timers.clear()
    this.broker.crash(tab)
    this.hub.crash(tab)
    // A request already handed to the network may still reach the server.
    this.network.crash(tab, () => this.net.chance(0.5))
    for (const task of this.storageOps) if (task.owner === tab) this.storageOps.delete(task)
    for (const task of this.restoring) if (task.owner === tab) this.restoring.delete(task)
    this.monitor.crashed(tab)
    if (reload)
      this.openTab(this.scheduler.now + this.net.int(50, 500), tab.page.sessionStorage.copy())
  }

  private freeze(tab: Tab): void {
    tab.status = 'frozen'
    tab.bfcache = this.scenario.chance(0.5)
    const ms = this.scenario.int(500, 60_000)
    this.log(
      this.server,
      () => `${tab.name} frozen${tab.bfcache ? ' into the bfcache' : ''} for ${ms} ms`,
    )
    this.monitor.frozen(tab, ms)
    this.scheduler.schedule(
      this.server,
      ms,
      'sim',
      () => `${tab.name} resumes`,
      () => this.resume(tab),
    )
  }

  private resume(tab: Tab): void {
    if (tab.status !== 'frozen') return
    tab.status = 'live'
    this.monitor.resumed(tab)
    if (tab.bfcache) {
      // Restored from the back/forward cache: messages of the meantime are lost, 'pageshow' fires.
      const task = this.scheduler.schedule(tab, 0, 'page', 'pageshow (persisted)', () => {
        this.restoring.delete(task)
        tab.page.fire('pageshow', true)
      })
      this.restoring.add(task)
    }
    const lossy = tab.bfcache
    tab.bfcache = false
    this.scheduler.resume(tab, (task) => {
      if (lossy && task.kind === 'message') {
        this.hub.deliveries.delete(task)
        this.monitor.lostInBfcache(tab, this.hub.dataOf(task))
        this.log(tab, () => `lost while in the bfcache: ${labelText(task.label)}`)
        return false
      }
      return true
    })
  }

  /** The machine sleeps: the wall clock jumps; timers are delayed, or all fall due at once. */
  private sleep(): void {
    const ms = this.scenario.weighted<number>([
      [this.scenario.int(5_000, 60_000), 3],
      [this.scenario.int(60_000, 600_000), 1],
    ])
    const monotonicRuns = this.scenario.chance(0.5)
    this.log(
      this.server,
      () =>
        `the machine sleeps ${ms} ms (${monotonicRuns ? 'timers fall due' : 'timers are delayed'})`,
    )
    this.scheduler.sleep(ms, monotonicRuns)
    this.monitor.slept(ms)
    // On wake-up, pages usually hear of it.
    for (const tab of this.tabs) {
      if (tab.status !== 'live' || !this.scenario.chance(0.6)) continue
      const event = this.scenario.pick(['focus', 'online', 'visibility'] as const)
      this.scheduler.schedule(tab, this.scenario.int(0, 200), 'page', `wake: ${event}`, () => {
        if (event === 'visibility') tab.page.setVisibility('visible')
        else tab.page.fire(event)
      })
    }
  }

  /**
   * Test side: a call to the API without a resource, with the first resource's token, as a buggy
   * SDK might send it ('audience' must catch it).
   */
  private sendForeignAudience(): void {
    const tab = this.tabs.find((t) => t.usable && t.client?.tokens)
    const resource = this.apis.find((api) => api.resource !== null)?.resource
    const plain = this.apis.find((api) => api.resource === null)
    if (tab === undefined || resource == null || plain === undefined) return
    this.scheduler.schedule(tab, 0, 'action', 'test side: a call with a foreign token', () => {
      tab.client?.getAccessToken({ resource }).then(
        (token) => {
          this.network
            .fetchFor(tab)(`${plain.origin}/me`, { headers: { authorization: `Bearer ${token}` } })
            .catch(() => undefined)
        },
        () => undefined,
      )
    })
  }

  /** Test side: a 'logout' no client sent, as a buggy SDK might (invariant 4 must catch it). */
  private forgeLogout(): void {
    const tab = this.tabs.find((t) => t.usable)
    if (tab === undefined) return
    this.scheduler.schedule(tab, 0, 'action', 'forged logout message', () => {
      const channel = new BroadcastChannel('freshtoken:spa')
      channel.postMessage({ type: 'logout', revision: Number.MAX_SAFE_INTEGER })
      channel.close()
    })
  }

  private messageDelay(): number {
    const { messages } = this.options
    const max = MESSAGE_DELAY_MAX[messages]
    if (messages === 'normal' && !this.net.chance(0.05)) return this.net.int(0, 12)
    return this.net.int(0, max)
  }

  private latency(flight: Flight, _leg: 'request' | 'response'): number {
    const r = this.net
    const api = flight.kind === 'api'
    switch (this.options.latency) {
      case 'lan':
        return r.int(1, 10)
      case 'wan':
        return api ? r.int(10, 120) : r.int(20, 200)
      case 'slow':
        return api
          ? r.int(50, 600)
          : r.weighted([
              [r.int(100, 1_500), 9],
              [r.int(1_500, 6_000), 1],
            ])
    }
  }

  /** Whether the token server misbehaves right now. */
  private inFaultWindow(): boolean {
    const [from, to] = this.options.faultWindow
    const now = this.scheduler.now
    return this.acting && now >= from && now < to && now < this.options.duration
  }

  private outboundFault(flight: Flight): OutboundFault | undefined {
    const { inject, faults } = this.options
    const r = this.net
    if (inject === 'token-in-network-error' && flight.kind === 'token' && this.inFaultWindow()) {
      const token = flight.form?.get('refresh_token') ?? ''
      this.monitor.fault(this.scheduler.now, 0)
      return { type: 'network-error', message: `fetch failed: refresh_token=${token}` }
    }
    if (inject === 'hidden-fault' && flight.kind === 'token' && this.inFaultWindow()) {
      return { type: 'status', status: 503 }
    }
    if (faults === 'none' || faults === 'lossy' || !this.inFaultWindow()) return undefined
    const p = r.next()
    const outage = faults === 'outage'
    let fault: OutboundFault | undefined
    if (p < (outage ? 0.5 : 0.12)) fault = { type: 'network-error' }
    else if (p < (outage ? 0.95 : 0.27)) {
      const status = r.pick([500, 502, 503, 503, 504, 429])
      const retryAfter = r.chance(0.5)
        ? undefined
        : r.weighted<number>([
            [1, 4],
            [2, 3],
            [5, 2],
            [30, 1],
            [120, outage ? 0.5 : 0],
          ])
      fault =
        retryAfter === undefined
          ? { type: 'status', status }
          : { type: 'status', status, retryAfter }
    }
    if (fault) {
      const retryAfter = fault.type === 'status' ? (fault.retryAfter ?? 0) * 1000 : 0
      this.monitor.fault(this.scheduler.now, retryAfter)
      this.log(
        this.server,
        () =>
          `fault for #${flight.id}: ${fault.type}${fault.type === 'status' ? ` ${fault.status}${fault.retryAfter ? ` retry-after ${fault.retryAfter}` : ''}` : ''}`,
      )
    }
    return fault
  }

  private returnFault(flight: Flight): ReturnFault | undefined {
    const { faults } = this.options
    if ((faults !== 'lossy' && faults !== 'mixed') || !this.inFaultWindow()) return undefined
    const p = this.net.next()
    const scale = faults === 'mixed' ? 0.5 : 1
    const fault: ReturnFault | undefined =
      p < 0.15 * scale
        ? { type: 'lost-reject' }
        : p < 0.25 * scale
          ? { type: 'lost-hang' }
          : undefined
    if (fault) {
      this.monitor.fault(this.scheduler.now, 0)
      this.monitor.answerLost(flight)
    }
    return fault
  }

  /**
   * Test side: presents `refreshToken` at the token endpoint from a tab, as a buggy SDK would
   * (the 'stale-refresh' and 'second-request' injections).
   */
  injectTokenRequest(refreshToken: string, except?: Context): void {
    const tab = this.tabs.find((t) => t.usable && t !== except)
    if (tab === undefined) return
    this.scheduler.schedule(tab, 0, 'action', 'test side: a token request', () => {
      if (this.options.mode === 'backend') {
        // A second refresh at the session backend: the browser attaches the same cookie.
        this.injecting = true
        try {
          this.network
            .fetchFor(tab)(`${ORIGIN}${BACKEND_REFRESH_PATH}`, {
              method: 'POST',
              credentials: 'include',
              headers: { [CSRF_HEADER[0]]: CSRF_HEADER[1] },
            })
            .catch(() => undefined)
        } finally {
          this.injecting = false
        }
        return
      }
      const body = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: refreshToken,
        client_id: 'spa',
      })
      this.injecting = true
      try {
        this.network
          .fetchFor(tab)(`${ISSUER}/oauth/token`, { method: 'POST', body })
          .catch(() => undefined)
      } finally {
        this.injecting = false
      }
    })
  }
}
