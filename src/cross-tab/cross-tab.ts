// The chunk loaded at start-up by clients that share their session with sibling tabs (see
// cross-tab-loader.ts). It imports only public error classes from the main bundle; what else it
// needs comes in its CrossTabParts.
import type { Backoff } from '../backoff.js'
import { NoSessionError, TokenEndpointUnavailableError } from '../errors.js'
import type { Emitter } from '../events.js'
import type { Session } from '../session.js'
import type { SessionStore, StoredSession } from '../storage.js'
import type { Traffic } from '../traffic.js'
import type { ChannelLease, LeaseMessage } from './channel-lease.js'
import { createWebLock, type RenewalLock } from './renewal-lock.js'
import type { CrossTab } from './tabs.js'
import {
  CLAIM_WINDOW,
  HANDOFF,
  HELLO_WAIT,
  LEASE_LAPSE,
  LOCK_WAIT,
  SIBLING_RENEWAL_LAPSE,
} from './timing.js'

/** What the cross-tab code needs from the main bundle: its storage format and a wait. */
export interface CrossTabParts {
  readonly encodeSession: (stored: StoredSession) => string
  readonly decodeSession: (raw: unknown) => StoredSession | null
  readonly settledWithin: (promise: Promise<unknown>, ms: number) => Promise<boolean>
}

/** A group's client, which still has to ask its siblings for the session. */
export interface JoinedCrossTab extends CrossTab {
  /**
   * Asks the siblings for the session; resolves once they answered (or the short wait for them
   * ran out). `own`: this tab already made a session state of its own, nothing to wait for.
   */
  join(own?: boolean): Promise<void>
}

/** What tabs say to each other, besides the lease protocol. */
type TabMessage =
  | { readonly type: 'hello' }
  | { readonly type: 'session'; readonly session: string }
  /** The session that ended; a newer one is kept. */
  | { readonly type: 'logout' | 'expired'; readonly revision: number }
  /**
   * A sibling is about to send a token request (`renewing`; its outcome follows), and a tab has no
   * API call with the current token in flight any more (`drained`, its answer).
   */
  | { readonly type: 'renewing' | 'drained' }
  /** Token requests pause until `until` (epoch ms) after `failures` failed requests in a row. */
  | { readonly type: 'backoff'; readonly until: number; readonly failures: number }
  | LeaseMessage

/**
 * Joins the tabs of this origin and client id into one session (RFC 6749 §6 renewals, RFC 9700
 * §4.14.2 rotation): results travel over `BroadcastChannel`, renewals take a Web Lock (or a lease
 * over the channel where Web Locks are missing), and a tab opened later asks its siblings for the
 * session. Without `BroadcastChannel` the client works alone.
 *
 * @param name - the group's name, from the client id
 * @param session - this tab's session
 * @param store - the session store, re-read under the lock when every tab shares it
 * @param events - the client's emitter
 * @param backoff - the client's pause after failed token requests, shared with the siblings
 * @param traffic - this tab's API calls in flight, which a sibling's renewal waits for
 * @param parts - what it needs from the main bundle
 */
export function createCrossTab(
  name: string,
  session: Session,
  store: SessionStore,
  events: Emitter,
  backoff: Backoff,
  traffic: Traffic,
  parts: CrossTabParts,
): JoinedCrossTab {
  const { encodeSession, decodeSession, settledWithin } = parts
  const { shared } = store
  const channel = new BroadcastChannel(name)
  // Node's channel would keep a script alive until dispose(); a browser's has no unref.
  ;(channel as { unref?: () => void }).unref?.()
  /** Set by close(): no renewal starts any more; the channel closes once the last one is shared. */
  let closed = false
  /** This tab holds the renewal lock (a renewal, then its hand-off). */
  let holding = false
  const post = (message: TabMessage): void => {
    if (!closed || holding) channel.postMessage(message)
  }
  const locks = (globalThis as { navigator?: { locks?: LockManager } }).navigator?.locks
  // The lease is only for browsers without Web Locks, so it is loaded only there. Messages that
  // arrive meanwhile wait in the promise's queue, in order.
  const lease: Promise<ChannelLease> | undefined =
    typeof locks?.request === 'function'
      ? undefined
      : import('./channel-lease.js').then(({ createChannelLease }) =>
          // The chunk imports nothing from the main bundle: its time budgets come from here.
          createChannelLease(post, CLAIM_WINDOW, LEASE_LAPSE),
        )
  const lock: RenewalLock = lease
    ? { acquire: async (signal) => (await lease).acquire(signal) }
    : createWebLock(locks as LockManager, `${name}:renewal`)
  /** The waits for the renewal lock: each is for a session state that any change replaces. */
  const waits = new Set<AbortController>()
  /** Counts a sibling's answer to this tab's 'hello'; `true` ends the wait (a state of its own). */
  let answered: ((mine?: boolean) => void) | undefined
  let leave: (() => void) | undefined
  /** The lock kept for the hand-off after this tab's last renewal: its next renewal reuses it. */
  let kept:
    | { readonly release: () => void; readonly timer: ReturnType<typeof setTimeout> }
    | undefined
  /** A sibling's renewal announced with `renewing`, until its outcome arrives. */
  let sibling: { readonly at: number; readonly done: Promise<void> } | undefined
  let siblingDone = (): void => undefined
  /** The sibling's renewal is over, one way or another: callers waiting for it go on. */
  const siblingOutcome = (): void => {
    siblingDone()
    sibling = undefined
  }
  /** Ends the hand-off: releases the lock, and closes the channel of a closed client. */
  const handOff = (): void => {
    holding = false
    takeKept()?.()
    if (closed) channel.close()
  }
  const takeKept = (): (() => void) | undefined => {
    const release = kept?.release
    clearTimeout(kept?.timer)
    kept = undefined
    return release
  }

  channel.onmessage = ({ data }: MessageEvent) => {
    const message = data as TabMessage
    const { state } = session
    switch (message?.type) {
      case 'hello':
        if (state.status === 'active') {
          post({ type: 'session', session: encodeSession(state.stored) })
        } else if (session.ended) {
          // A tab that missed the end of the session (in the back/forward cache, or restored
          // from its own sessionStorage) hears it now, and how: a session that expired stays
          // expired after a logout() here that found it already ended.
          post({ type: session.endedBy, revision: session.ended })
        }
        break
      case 'session': {
        const stored = decodeSession(message.session)
        // New tokens from a sibling: the token server works again.
        if (stored !== null && session.adopt(stored)) backoff.succeeded()
        answered?.()
        siblingOutcome()
        break
      }
      case 'backoff':
        backoff.follow(message.until, message.failures)
        siblingOutcome()
        break
      case 'renewing':
        siblingOutcome()
        sibling = {
          at: Date.now(),
          done: new Promise((resolve) => {
            siblingDone = resolve
          }),
        }
        // From now on this tab's calls wait for the renewal; those on their way are answered
        // first, and the renewing tab waits for that.
        traffic.idle().then(() => post({ type: 'drained' }))
        break
      case 'drained':
        crossTab.onDrained?.()
        break
      case 'logout':
      case 'expired':
        siblingOutcome()
        // A revision that is not a number (a numeric string would compare as one) is ignored.
        if (typeof message.revision !== 'number') break
        if (session.endedInSibling(message.type, message.revision)) events.emit('logout', undefined)
        break
      default:
        lease?.then(
          (it) => it.receive(message as LeaseMessage),
          () => undefined,
        )
    }
  }

  // Aborted by close(). A client disposed before its presence lock was granted (a component
  // mounted and unmounted at once) must not take it: every later tab would wait for its answer.
  const presence = new AbortController()

  // Every client of the group holds a shared presence lock while it lives.
  const present = `${name}:present`
  const inGroup = new Promise<void>((held) => {
    if (lease) return held()
    ;(locks as LockManager)
      .request(present, { mode: 'shared', signal: presence.signal }, () => {
        held()
        if (presence.signal.aborted) return
        return new Promise<void>((release) => {
          leave = release
        })
      })
      .catch(() => held())
  })

  /** How many other clients of this group are alive: the holders of the presence lock. */
  const siblings = async (): Promise<number | undefined> =>
    lease
      ? undefined
      : inGroup
          .then(() => (locks as LockManager).query())
          // This tab holds it too (unless it was closed before the lock was granted: then -1).
          .then(({ held = [] }) => held.filter((info) => info.name === present).length - 1)
          .catch(() => undefined)

  // A tab opened later asks its siblings for the session and waits a moment for the answer,
  // unless it is alone, the shared storage already had the session, or it made a session state
  // of its own meanwhile (`own`: a login before this code arrived). Siblings are assumed where
  // their number cannot be known.
  async function join(own = false): Promise<void> {
    const restored = own || (shared && session.state.status === 'active')
    const others = await siblings()
    let answers = 0
    // Every sibling known to be open answers: the first answer may hold an older state of the
    // session than another's (a sibling that was frozen too), and a renewal must start from the
    // newest. Where their number cannot be known, the first answer is enough.
    const answer = new Promise<void>((resolve) => {
      answered = (mine) => {
        if (mine || ++answers >= (others ?? 1)) resolve()
      }
    })
    post({ type: 'hello' })
    // No sibling known to be open (none, or -1 for a closed tab): nobody to wait for.
    if (!restored && !((others as number) < 1)) await settledWithin(answer, HELLO_WAIT)
    answered = undefined
  }
  // A page restored from the back/forward cache missed every message meanwhile: it asks again
  // before it renews (the schedule's own pageshow check waits for session.ready).
  const onPageShow = (event: Event): void => {
    if ((event as PageTransitionEvent).persisted) session.restoreFrom(join())
  }
  globalThis.addEventListener?.('pageshow', onPageShow)

  /**
   * Waits for the renewal lock; resolves to `undefined` when the wait was stopped: the session
   * changed (see `changed`), the client was closed, or {@link LOCK_WAIT} ran out. Rejects only
   * when the lock API itself fails.
   */
  async function waitForLock(): Promise<(() => void) | undefined> {
    const wait = new AbortController()
    waits.add(wait)
    const timer = setTimeout(() => wait.abort(), LOCK_WAIT)
    try {
      return await lock.acquire(wait.signal)
    } catch (error) {
      if (wait.signal.aborted) return undefined
      throw error
    } finally {
      clearTimeout(timer)
      waits.delete(wait)
    }
  }

  const crossTab: JoinedCrossTab = {
    join,
    siblings,
    async exclusive(generation, renew) {
      // A disposed client renewing alone would rotate a refresh token its siblings never hear of.
      if (closed) throw new NoSessionError('disposed client')
      let release: (() => void) | undefined
      try {
        release = takeKept() ?? (await waitForLock())
      } catch {
        // A lock API that fails outright (an opaque origin) leaves this tab to renew alone.
        return renew(session.active())
      }
      // A session that changed meanwhile needs no renewal from here: the renewal sees that and
      // drops this failure.
      if (release === undefined) {
        throw new TokenEndpointUnavailableError('renewal lock not granted in time')
      }
      holding = true
      try {
        // A page back from the back/forward cache asks its siblings again (session.ready) before
        // it renews with what it had.
        await session.ready
        if (shared && generation === session.generation) {
          // A sibling may have renewed just before: its tokens are in the shared store.
          const loaded = await Promise.resolve()
            .then(() => store.load())
            .catch(() => null)
          if (loaded !== null) session.adopt(loaded)
        }
        if (generation !== session.generation) return undefined
        post({ type: 'renewing' })
        return await renew(session.active())
      } finally {
        kept = { release, timer: setTimeout(handOff, HANDOFF) }
      }
    },
    paused(until, failures) {
      post({ type: 'backoff', until, failures })
    },
    siblingRenewal: () =>
      sibling && Date.now() - sibling.at < SIBLING_RENEWAL_LAPSE ? sibling.done : undefined,
    changed(change) {
      for (const wait of waits) wait.abort()
      // This tab made a session state of its own (a login): nothing to wait for. An adopted one
      // is a sibling's answer, counted as it arrives.
      if (change === undefined) return
      answered?.(true)
      post(
        change.type === 'session'
          ? { type: 'session', session: encodeSession(change.stored) }
          : change,
      )
    },
    close() {
      closed = true
      channel.onmessage = null
      globalThis.removeEventListener?.('pageshow', onPageShow)
      for (const wait of waits) wait.abort()
      presence.abort()
      leave?.()
      // A renewal under way (its request, then the hand-off) still shares its result first.
      if (!holding) channel.close()
    },
  }
  return crossTab
}
