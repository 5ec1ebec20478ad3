/**
 * `BroadcastChannel` for the tabs of one origin. A message is cloned when posted and delivered to
 * every other open channel of the same name as a task of the receiving tab, after a delay drawn
 * from the seed: messages from different senders may overtake each other, messages from one
 * sender to one receiver stay in order, as browsers guarantee.
 */
import { ListenerRegistry } from './page.js'
import type { Context, Scheduler, Task } from './scheduler.js'

/** What the hub needs from the world. */
export interface HubHooks {
  /** The delay of one delivery, ms. */
  delay(): number
  /** A short description of a message, for the trace (no token values). */
  describe(data: unknown): string
  /** Whether a delivery happens at all (a switch that loses messages, for the self-tests). */
  allow(from: Context, to: Context, data: unknown): boolean
  /** A message is delivered to `to` now (`data` undefined: that delivery is over). */
  delivery(to: Context, data: unknown): void
  /** A message was posted (for the trace). */
  posted(from: Context, label: () => string, data: unknown): void
}

/** One tab's `BroadcastChannel` object. */
export class SimChannel {
  onmessage: ((event: MessageEvent) => void) | null = null
  onmessageerror: ((event: MessageEvent) => void) | null = null
  closed = false
  private readonly listeners = new ListenerRegistry()

  constructor(
    readonly name: string,
    readonly owner: Context,
    readonly id: number,
    private readonly hub: BroadcastHub,
  ) {}

  postMessage(data: unknown): void {
    if (this.closed) throw new DOMException('BroadcastChannel is closed', 'InvalidStateError')
    // Cloned once when posted, as a browser serialises it; every receiver gets that copy, frozen,
    // so a receiver that modified its message (which would not reach siblings in a browser)
    // throws instead of passing unnoticed.
    this.hub.post(this, deepFreeze(copy(data)))
  }

  close(): void {
    this.closed = true
  }

  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null): void {
    this.listeners.add(type, listener)
  }

  removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null): void {
    this.listeners.remove(type, listener)
  }

  /** Delivers a message (a task of the receiving tab). */
  receive(data: unknown): void {
    if (this.closed) return
    // The SDK reads only `data`: a plain event is much cheaper than a MessageEvent.
    const event = { type: 'message', data } as MessageEvent
    this.onmessage?.(event)
    this.listeners.dispatch(event)
  }
}

/** Every channel of the origin, and the deliveries in flight. */
export class BroadcastHub {
  private readonly channels: SimChannel[] = []
  /** Latest delivery time per (sender, receiver): one sender's messages stay in order. */
  private readonly lastAt = new Map<string, number>()
  /** Deliveries queued and not yet run. */
  readonly deliveries = new Set<Task>()
  /** What each queued delivery carries. */
  private readonly payloads = new WeakMap<Task, unknown>()
  private nextId = 1

  constructor(
    private readonly scheduler: Scheduler,
    private readonly hooks: HubHooks,
  ) {}

  /** `new BroadcastChannel(name)` in `owner`. */
  open(name: string, owner: Context): SimChannel {
    const channel = new SimChannel(String(name), owner, this.nextId++, this)
    this.channels.push(channel)
    return channel
  }

  post(from: SimChannel, data: unknown): void {
    const label = () => this.hooks.describe(data)
    this.hooks.posted(from.owner, label, data)
    for (const to of this.channels) {
      if (to === from || to.name !== from.name || to.closed || to.owner.status === 'crashed') {
        continue
      }
      if (!this.hooks.allow(from.owner, to.owner, data)) continue
      const key = `${from.id}>${to.id}`
      const at = Math.max(this.scheduler.now + this.hooks.delay(), this.lastAt.get(key) ?? 0)
      this.lastAt.set(key, at)
      const task = this.scheduler.schedule(
        to.owner,
        at - this.scheduler.now,
        'message',
        () => `msg ${label()} from ${from.owner.name}`,
        () => {
          this.deliveries.delete(task)
          this.hooks.delivery(to.owner, data)
          try {
            to.receive(data)
          } finally {
            this.hooks.delivery(to.owner, undefined)
          }
        },
      )
      this.payloads.set(task, data)
      this.deliveries.add(task)
    }
  }

  /** The message a delivery task carries. */
  dataOf(task: Task): unknown {
    return this.payloads.get(task)
  }

  /** A tab is gone: its channels close (messages it already posted are still delivered). */
  crash(owner: Context): void {
    for (const channel of this.channels) if (channel.owner === owner) channel.closed = true
    for (const task of this.deliveries) if (task.owner === owner) this.deliveries.delete(task)
  }

  /** Whether a message is on its way to a tab that runs (not frozen, not gone). */
  inFlight(): boolean {
    for (const task of this.deliveries) if (task.owner.status === 'live') return true
    return false
  }

  /** Channels of `owner` still open. */
  openChannels(owner: Context): number {
    return this.channels.filter((channel) => channel.owner === owner && !channel.closed).length
  }
}

/** A structured clone; a flat object of primitives (every SDK message) is copied the cheap way. */
function copy(data: unknown): unknown {
  if (
    typeof data !== 'object' ||
    data === null ||
    Object.getPrototypeOf(data) !== Object.prototype
  ) {
    return structuredClone(data)
  }
  for (const key in data) {
    const value = (data as Record<string, unknown>)[key]
    if (typeof value === 'object' && value !== null) return structuredClone(data)
    if (typeof value === 'function' || typeof value === 'symbol') return structuredClone(data)
  }
  return { ...data }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key])
  }
  return value
}
