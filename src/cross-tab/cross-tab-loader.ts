import type { Backoff } from '../backoff.js'
import type { Emitter } from '../events.js'
import type { Session, SessionChange } from '../session.js'
import { decodeSession, encodeSession, type SessionStore } from '../storage.js'
import type { Traffic } from '../traffic.js'
import { settledWithin } from '../waiting.js'
import { alone, type CrossTab } from './tabs.js'

/**
 * Joins the sibling tabs with the cross-tab code loaded on demand, at once (see cross-tab.ts): the
 * main bundle carries only this stand-in. Until the code has arrived and the siblings have
 * answered, `session.ready` waits (so a new tab's first call still finds a sibling's session);
 * changes made meanwhile are told to the siblings once it has, in order; a renewal waits for it.
 * Code that cannot be loaded leaves the client working alone. Without `BroadcastChannel` nothing
 * is loaded.
 *
 * @returns the client's view of its siblings
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export function loadCrossTab(
  name: string,
  session: Session,
  store: SessionStore,
  events: Emitter,
  backoff: Backoff,
  traffic: Traffic,
): CrossTab {
  if (typeof globalThis.BroadcastChannel !== 'function') return alone(session)
  let loaded: CrossTab | undefined
  let closed = false
  let onDrained: (() => void) | undefined
  /** Changes this tab made before the code arrived, for the siblings. */
  const missed: (SessionChange | undefined)[] = []
  let joined: Promise<void> | undefined
  const loading: Promise<CrossTab> = import('./cross-tab.js').then(
    ({ createCrossTab }) => {
      const tabs = createCrossTab(name, session, store, events, backoff, traffic, {
        encodeSession,
        decodeSession,
        settledWithin,
      })
      const own = missed.some((change) => change !== undefined)
      for (const change of missed.splice(0)) tabs.changed?.(change)
      joined = tabs.join(own)
      if (closed) tabs.close?.()
      loaded = tabs
      tabs.onDrained = onDrained
      return tabs
    },
    () => alone(session),
  )
  session.restoreFrom(loading.then(() => joined))
  const tabs = async () => loaded ?? (await loading)
  return {
    exclusive: async (generation, renew) => (await tabs()).exclusive(generation, renew),
    changed(change) {
      if (loaded) loaded.changed?.(change)
      else missed.push(change)
    },
    paused: (until, failures) => loaded?.paused?.(until, failures),
    siblingRenewal: () => loaded?.siblingRenewal?.(),
    siblings: async () => (await tabs()).siblings?.(),
    get onDrained() {
      return onDrained
    },
    set onDrained(listener) {
      onDrained = listener
      if (loaded) loaded.onDrained = listener
    },
    close() {
      closed = true
      loaded?.close?.()
    },
  }
}
