/**
 * What one seed simulates (drawn from the seed, every field overridable for a focused run), and
 * the time budgets the invariants lean on. The SDK's own budgets live in src/timing.ts; the ones
 * here say how long after a fault a call may still fail, so they must follow the SDK's when it
 * changes them.
 */
import { createRandom } from './random.js'

/** Where the tabs keep the session: the SDK's `storage` option. */
export type StorageChoice = 'memory' | 'session' | 'local' | 'custom' | 'custom-async'

/**
 * A violation the simulator injects on purpose, to prove that the invariant it names catches it
 * (see test/sim/invariants-catch.test.ts). Never set in a normal run.
 */
export type Injection =
  /** The test side presents a refresh token the server already rotated (invariant 1). */
  | 'stale-refresh'
  /** The test side sends a second token request of the session while one is in flight (2). */
  | 'second-request'
  /** The channel loses every 'session' message to one tab (3). */
  | 'lose-session-messages'
  /** The test side posts a forged 'logout' that no logout() call made (4). */
  | 'forged-logout'
  /** Token request failures that the fault log does not record (5). */
  | 'hidden-fault'
  /** A disposed tab is left with a timer and a listener (6). */
  | 'leak-after-dispose'
  /** A network error whose message quotes the refresh token it was sending (7). */
  | 'token-in-network-error'
  /**
   * With resource indicators: the test side calls the API that takes the session's token with a
   * resource's token, as Bearer ('audience', and 'dpop' when that token is DPoP-bound).
   */
  | 'foreign-audience'

/**
 * How the tabs hold the session: `'oauth'`, the SDK talks to the token endpoint and keeps the
 * refresh token; `'backend'`, the app's own session backend keeps the refresh token in an
 * httpOnly cookie of the browser (the SDK's `backend` option, the mock's `backend` mode).
 */
export type SessionMode = 'oauth' | 'backend'

/** The share of drawn seeds that run in backend mode. */
export const BACKEND_SHARE = 0.25

/**
 * The share of drawn OAuth-mode seeds that turn on DPoP (RFC 9449) or resource indicators
 * (RFC 8707), or both: see {@link SimOptions.dpop} and {@link SimOptions.resources}.
 */
export const FEATURES_SHARE = 0.25

/** The resource indicators of the APIs with a token of their own, in the order `resources` adds them. */
export const RESOURCE_APIS = [
  { origin: 'https://api.example.com', resource: 'https://api.example.com/' },
  { origin: 'https://data.example.com', resource: 'https://data.example.com/v1' },
] as const

/** With resource indicators, the API that still takes the session's own token (no `resource`). */
export const PLAIN_API = 'https://legacy.example.com'

/** Everything a seed decides before it starts. */
export interface SimOptions {
  readonly seed: number
  /** OAuth (token endpoint) or session backend (refresh cookie): see {@link SessionMode}. */
  readonly mode: SessionMode
  /** Tabs open at the start (2-8); more may open later, up to {@link SimOptions.maxTabs} live. */
  readonly tabs: number
  readonly maxTabs: number
  readonly storage: StorageChoice
  /** Whether `navigator.locks` exists (otherwise the SDK's lease over the channel runs). */
  readonly webLocks: boolean
  /** Access token lifetime at the mock, ms. */
  readonly lifetime: number
  /** The SDK's `refreshLeeway`, ms; `undefined` for its default. */
  readonly leeway: number | undefined
  readonly tokenFormat: 'opaque' | 'jwt'
  /** BroadcastChannel delivery delays. */
  readonly messages: 'fast' | 'normal' | 'slow'
  /** Request and response latencies. */
  readonly latency: 'lan' | 'wan' | 'slow'
  /** Faults of the token server during {@link SimOptions.faultWindow}. */
  readonly faults: 'none' | 'flaky' | 'outage' | 'lossy' | 'mixed'
  /** From when to when (ms from the start) the token server misbehaves. */
  readonly faultWindow: readonly [number, number]
  /** How often tabs crash, freeze, sleep and reload. */
  readonly chaos: 'calm' | 'normal' | 'wild'
  /** How long the app acts, ms; a settling phase follows. */
  readonly duration: number
  /** Mean time between two app or browser actions, ms. */
  readonly actionEvery: number
  /**
   * DPoP (RFC 9449): the SDK's `dpop: true`; the mock binds tokens to the proof's key, requires a
   * proof at the token endpoint, and its APIs take the `DPoP` scheme. OAuth mode only.
   */
  readonly dpop: boolean
  /** With {@link SimOptions.dpop}: the token server and each API demand nonces of their own. */
  readonly nonces: boolean
  /** Mean time between two nonce rotations (of the token server, one API, or all), ms. */
  readonly nonceRotateEvery: number
  /**
   * Resource indicators (RFC 8707): 0, one API with the session's token; 1-2, that many APIs
   * ({@link RESOURCE_APIS}) each with its own resource and token, plus {@link PLAIN_API} with the
   * session's own token. OAuth mode only.
   */
  readonly resources: number
  readonly inject?: Injection | undefined
}

/**
 * The longest one renewal may take once it runs: the drain of API calls in flight (`DRAIN_WAIT`,
 * 3 s), 3 token requests of `REQUEST_TIMEOUT` (10 s) and 2 pauses in place of
 * `MAX_PAUSE_IN_RENEWAL` (2 s), src/renewal.ts. timing-drift.test.ts fails when those change.
 */
export const RENEWAL_BUDGET = 37_000
/** How long a renewal may wait for a sibling's lock first (`LOCK_WAIT`; `LEASE_LAPSE` too). */
export const LOCK_WAIT = 40_000
/** The longest pause after failed token requests, however many (`MAX_PAUSE`). */
export const MAX_BACKOFF = 60_000
/** The longest `Retry-After` the SDK honours (`MAX_RETRY_AFTER`). */
export const RETRY_AFTER_CAP = 600_000
/** Message and lock latencies, hand-offs, a hidden tab's whole-second timers. */
const SLACK = 5_000

/**
 * How long after a fault a call may still fail although the server works again: a call may wait
 * for a sibling's lock, behind a renewal that met the fault; that renewal fails within its budget,
 * and the pause it starts (the backoff, or the server's `Retry-After`) then declines renewals.
 * A failure later than this, with a live session, breaks invariant 5.
 *
 * @param retryAfter - the `Retry-After` the fault sent, ms
 */
export function recoveryWindow(retryAfter = 0): number {
  return (
    LOCK_WAIT +
    RENEWAL_BUDGET +
    Math.max(MAX_BACKOFF, Math.min(retryAfter, RETRY_AFTER_CAP)) +
    SLACK
  )
}

/** How long a new tab waits for its siblings' answer (`HELLO_WAIT`). */
export const HELLO_WAIT = 200
/** The renewal lock's name for client `spa` (OAuth mode). */
export const RENEWAL_LOCK = 'freshtoken:spa:renewal'
/** The renewal lock's name in backend mode: the SDK's client id defaults to `'backend'`. */
export const BACKEND_RENEWAL_LOCK = 'freshtoken:backend:renewal'
/** Wall-clock time at the start of every seed: 2030-01-01. */
export const WALL_START = Date.UTC(2030, 0, 1)
/** After the app stops acting, every call must have settled within this long. */
export const CALL_DEADLINE = 180_000

/**
 * EXCLUSION (temporary): the weight of the 'slow' message profile in drawn options, 0 for now.
 * With messages slower than the SDK's HANDOFF (100 ms), the next holder of the renewal lock can
 * read the session before the previous holder's result arrives and present a rotated refresh
 * token (reported as SDK finding "HANDOFF"). Force it with `--options '{"messages":"slow"}'`.
 */
export const SLOW_MESSAGES = 0

/** The largest BroadcastChannel delay of each profile, ms. */
export const MESSAGE_DELAY_MAX = { fast: 3, normal: 40, slow: 150 } as const

/** The longest round trip of a token request in each latency profile (two legs), ms. */
export const TOKEN_ROUND_TRIP_MAX = { lan: 20, wan: 400, slow: 12_000 } as const

/**
 * Whether a latency profile suits a token lifetime and leeway: the SDK renews `leeway` before
 * expiry and counts expiry from when the answer arrived, so a round trip that is a good part of
 * the leeway yields tokens the API already rejects (the server counts from when it answered).
 * Such a configuration is the app's mistake, not the SDK's: the simulator does not draw it.
 */
function fitsLatency(
  latency: 'wan' | 'slow',
  lifetime: number,
  leeway: number | undefined,
): boolean {
  const effective = Math.min(leeway ?? 30_000, lifetime / 2)
  return effective >= 2 * TOKEN_ROUND_TRIP_MAX[latency] + 1_000
}

/**
 * Draws a seed's options. `overrides` replace drawn fields (a focused run, a regression entry).
 *
 * @param seed - the seed
 * @param overrides - fields to force
 */
export function drawOptions(seed: number, overrides: Partial<SimOptions> = {}): SimOptions {
  const r = createRandom(seed, 'options')
  const webLocks = r.chance(0.8)
  const lifetime = r.weighted<number>([
    [5_000, 1],
    [10_000, 3],
    [20_000, 3],
    [60_000, 2],
  ])
  const duration = r.int(20, 60) * 1_000
  const faults = r.weighted<SimOptions['faults']>([
    ['none', 5],
    ['flaky', 2],
    ['outage', 1],
    ['lossy', 1],
    ['mixed', 1],
  ])
  const faultStart = r.int(2_000, duration / 2)
  const leeway = r.chance(0.5) ? undefined : r.int(1, Math.max(1, lifetime / 2_000)) * 1_000
  // Drawn from a stream of its own, so the other fields of every seed stay as they were.
  const mode: SessionMode = createRandom(seed, 'mode').chance(BACKEND_SHARE) ? 'backend' : 'oauth'
  // DPoP and resource indicators: a stream of their own too.
  const f = createRandom(seed, 'features')
  const featured = f.chance(FEATURES_SHARE) && mode === 'oauth'
  const dpop = featured && f.chance(0.75)
  const resources = !featured
    ? 0
    : f.weighted<number>([
        [0, dpop ? 1 : 0],
        [1, 1],
        [2, 2],
      ])
  const nonces = f.chance(0.8)
  const nonceRotateEvery = f.weighted<number>([
    [3_000, 1],
    [10_000, 2],
    [30_000, 2],
  ])
  const drawn: SimOptions = {
    seed,
    mode,
    tabs: r.weighted<number>([
      [2, 5],
      [3, 4],
      [4, 2],
      [5, 1],
      [8, 1],
    ]),
    maxTabs: 8,
    storage: r.weighted<StorageChoice>([
      ['memory', 4],
      ['session', 1],
      ['local', 2],
      ['custom', 1],
      ['custom-async', 2],
    ]),
    webLocks,
    lifetime,
    leeway,
    tokenFormat: r.chance(0.8) ? 'opaque' : 'jwt',
    // 'slow' (up to 150 ms) breaks the SDK's assumption that a renewal's result reaches every tab
    // within HANDOFF (100 ms), and then a tab presents a rotated refresh token: see SLOW_MESSAGES.
    messages: r.weighted<SimOptions['messages']>([
      ['fast', 3],
      ['normal', 4],
      ['slow', SLOW_MESSAGES],
    ]),
    latency: r.weighted<SimOptions['latency']>([
      ['lan', 2],
      ['wan', fitsLatency('wan', lifetime, leeway) ? 3 : 0],
      ['slow', fitsLatency('slow', lifetime, leeway) ? 1 : 0],
    ]),
    faults,
    faultWindow: [faultStart, faultStart + r.int(2_000, 20_000)],
    chaos: r.weighted<SimOptions['chaos']>([
      ['calm', 2],
      ['normal', 3],
      ['wild', 1],
    ]),
    duration,
    actionEvery: r.int(1_500, 4_000),
    dpop,
    nonces,
    nonceRotateEvery,
    resources,
  }
  const options = { ...drawn, ...overrides }
  // DPoP and resource indicators are OAuth-mode features: forcing one forces that mode, and
  // forcing backend mode turns off those drawn for OAuth mode.
  if ((options.dpop || options.resources > 0) && options.mode === 'backend') {
    const forced = overrides.dpop === true || (overrides.resources ?? 0) > 0
    if (!forced) return drawOptions(seed, { dpop: false, resources: 0, ...overrides })
    if (overrides.mode === 'backend') throw new TypeError('"dpop"/"resources" need mode "oauth"')
    return drawOptions(seed, { ...overrides, mode: 'oauth' })
  }
  // An override of the lifetime or the leeway must not make a drawn latency unfit.
  if (overrides.latency === undefined && options.latency !== 'lan') {
    const { lifetime, leeway } = options
    if (!fitsLatency(options.latency, lifetime, leeway)) {
      return { ...options, latency: fitsLatency('wan', lifetime, leeway) ? 'wan' : 'lan' }
    }
  }
  return options
}

/** The options as one short line per field group, for the trace header. */
export function describeOptions(options: SimOptions): string {
  const o = options
  return [
    `mode=${o.mode} tabs=${o.tabs} storage=${o.storage} webLocks=${o.webLocks} messages=${o.messages}`,
    `lifetime=${o.lifetime} leeway=${o.leeway ?? 'default'} tokens=${o.tokenFormat} latency=${o.latency}`,
    `faults=${o.faults} window=${o.faultWindow.join('-')} chaos=${o.chaos} duration=${o.duration} actionEvery=${o.actionEvery}${o.inject ? ` inject=${o.inject}` : ''}`,
    ...(o.dpop || o.resources > 0
      ? [
          `dpop=${o.dpop}${o.dpop ? ` nonces=${o.nonces}${o.nonces ? ` rotateEvery=${o.nonceRotateEvery}` : ''}` : ''} resources=${o.resources}`,
        ]
      : []),
  ].join('\n')
}
