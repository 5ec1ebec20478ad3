import type { Backoff } from '../backoff.js'
import { NoSessionError, TokenEndpointUnavailableError } from '../errors.js'
import type { Emitter } from '../events.js'
import type { Session, SessionChange } from '../session.js'
import { decodeSession, encodeSession, type SessionStore, type StoredSession } from '../storage.js'
import {
  CLAIM_WINDOW,
  HANDOFF,
  HELLO_WAIT,
  LEASE_LAPSE,
  LOCK_WAIT,
  SIBLING_RENEWAL_LAPSE,
} from '../timing.js'
import type { Traffic } from '../traffic.js'
import { settledWithin } from '../waiting.js'
import type { ChannelLease, LeaseMessage } from './channel-lease.js'
import { createWebLock, type RenewalLock } from './renewal-lock.js'

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
 * One session across the tabs of an origin: shared results, and one renewal at a time. A client
 * that works alone has only `exclusive`.
 */
export interface CrossTab {
  /**
   * Runs `renew` so that no sibling renews at the same time. Resolves to `undefined`, without
   * calling `renew`, when the lock came but the session had moved on from `generation` (a sibling
   * renewed and this tab adopted its tokens, or the session ended). Rejects with
   * `TokenEndpointUnavailableError` when the wait for the lock was stopped: it ran out, or the
   * session changed (which the caller, seeing a new generation, takes as moved on).
   */
  exclusive(
    generation: number,
    renew: (stored: StoredSession | undefined) => Promise<StoredSession | undefined>,
  ): Promise<StoredSession | undefined>
  /**
   * Tells siblings about a change this tab made, and stops every wait for the lock: each was for
   * the session state the change replaced.
   */
  changed?(change?: SessionChange): void
  /** Tells siblings that token requests pause until `until` (epoch ms), after `failures`. */
  paused?(until: number, failures: number): void
  /**
   * A sibling's renewal of this tab's session in flight: resolves when its outcome arrives (new
   * tokens, the end of the session, a failure). `undefined` when no sibling is renewing it, or the
   * one that said so went silent for {@link SIBLING_RENEWAL_LAPSE}.
   */
  siblingRenewal?(): Promise<void> | undefined
  /** How many siblings are open; `undefined` when that cannot be known (no Web Locks). */
  siblings?(): Promise<number | undefined>
  /** Set by a renewal while it waits: called for each sibling that answered `drained`. */
  onDrained?: (() => void) | undefined
  /** Leaves the group: closes the channel and releases the lock. */
  close?(): void
}

/**
 * A client that works alone (`crossTab: false`, or no `BroadcastChannel`): renewals run at once.
 *
 * @param session - the client's session
 */
export function alone(session: Session): CrossTab {
  return { exclusive: (_, renew) => renew(session.active()) }
}

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
 */
export function createCrossTab(
  name: string,
  session: Session,
  store: SessionStore,
  events: Emitter,
  backoff: Backoff,
  traffic: Traffic,
): CrossTab {
  const { shared } = store
  const Channel = globalThis.BroadcastChannel
  if (typeof Channel !== 'function') return alone(session)
  const channel = new Channel(name)
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
  let answered: (() => void) | undefined
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
  // unless it is alone or the shared storage already had the session (siblings are assumed
  // where their number cannot be known).
  async function join(): Promise<void> {
    const restored = shared && session.state.status === 'active'
    const others = await siblings()
    const answer = new Promise<void>((resolve) => {
      answered = resolve
    })
    post({ type: 'hello' })
    // No sibling known to be open (none, or -1 for a closed tab): nobody to wait for.
    if (!restored && !((others as number) < 1)) await settledWithin(answer, HELLO_WAIT)
    answered = undefined
  }
  session.restoreFrom(join())
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

  const crossTab: CrossTab = {
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
      // This tab has a session state of its own now (a login, an adopted one): nothing to wait for.
      answered?.()
      if (change === undefined) return
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
