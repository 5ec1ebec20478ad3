/**
 * What one tab's page exposes to the SDK besides the cross-tab APIs: window events ('pageshow',
 * 'online', 'focus'), `document` (visibility, `visibilitychange`, `baseURI`) and Web Storage.
 * Listener counts are kept so a disposed client can be checked for listeners it left behind.
 */

type Listener = EventListenerOrEventListenerObject

/** Event listeners of one target, by type. */
export class ListenerRegistry {
  private readonly byType = new Map<string, Map<Listener, { once: boolean }>>()

  add(type: string, listener: Listener | null, options?: boolean | AddEventListenerOptions): void {
    if (listener === null) return
    const once = typeof options === 'object' && options.once === true
    const listeners = this.byType.get(type) ?? new Map()
    this.byType.set(type, listeners)
    // Adding the same listener twice is a no-op, as on an EventTarget.
    if (!listeners.has(listener)) listeners.set(listener, { once })
  }

  remove(type: string, listener: Listener | null): void {
    if (listener !== null) this.byType.get(type)?.delete(listener)
  }

  dispatch(event: { readonly type: string }): void {
    const listeners = this.byType.get(event.type)
    if (listeners === undefined) return
    for (const [listener, { once }] of [...listeners]) {
      if (once) listeners.delete(listener)
      if (typeof listener === 'function') listener(event as Event)
      else listener.handleEvent(event as Event)
    }
  }

  /** Listeners registered, over every type. */
  count(): number {
    let total = 0
    for (const listeners of this.byType.values()) total += listeners.size
    return total
  }

  /** The types that still have listeners, for a leak report. */
  types(): string[] {
    return [...this.byType].filter(([, listeners]) => listeners.size > 0).map(([type]) => type)
  }
}

/** The part of `document` the SDK reads. */
export interface SimDocument {
  visibilityState: DocumentVisibilityState
  readonly hidden: boolean
  readonly baseURI: string
  addEventListener(type: string, listener: Listener | null, options?: boolean): void
  removeEventListener(type: string, listener: Listener | null): void
}

/** One tab's page: window listeners, document and sessionStorage. */
export class Page {
  readonly window = new ListenerRegistry()
  readonly documentListeners = new ListenerRegistry()
  readonly document: SimDocument

  constructor(
    origin: string,
    readonly sessionStorage: SimStorage,
  ) {
    const listeners = this.documentListeners
    this.document = {
      visibilityState: 'visible',
      get hidden() {
        return this.visibilityState === 'hidden'
      },
      baseURI: `${origin}/`,
      addEventListener: (type, listener, options) => listeners.add(type, listener, options),
      removeEventListener: (type, listener) => listeners.remove(type, listener),
    }
  }

  /** Listeners left on the window and the document. */
  listenerCount(): number {
    return this.window.count() + this.documentListeners.count()
  }

  /** Fires a window event; `persisted` for a 'pageshow' from the back/forward cache. */
  fire(type: 'pageshow' | 'online' | 'focus', persisted = false): void {
    const event = new Event(type)
    if (type === 'pageshow') Object.defineProperty(event, 'persisted', { value: persisted })
    this.window.dispatch(event)
  }

  /** Changes visibility and fires 'visibilitychange' on the document. */
  setVisibility(state: DocumentVisibilityState): void {
    this.document.visibilityState = state
    this.documentListeners.dispatch(new Event('visibilitychange'))
  }
}

/** Web Storage in memory: localStorage is one per origin, sessionStorage one per tab. */
export class SimStorage {
  private readonly items = new Map<string, string>()

  get length(): number {
    return this.items.size
  }
  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null
  }
  getItem(key: string): string | null {
    return this.items.get(String(key)) ?? null
  }
  setItem(key: string, value: string): void {
    this.items.set(String(key), String(value))
  }
  removeItem(key: string): void {
    this.items.delete(String(key))
  }
  clear(): void {
    this.items.clear()
  }
  /** A copy, for a tab that inherits sessionStorage (a reload keeps it). */
  copy(): SimStorage {
    const copy = new SimStorage()
    for (const [key, value] of this.items) copy.setItem(key, value)
    return copy
  }
}
