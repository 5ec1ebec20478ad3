/**
 * Virtual time and the single event queue of the simulator. Every callback the simulated browser
 * runs (a timer, a message delivery, a lock grant, a fetch answer, an app action) is a task owned
 * by one context: a tab, or the world (the token server and the network). Running a task is one
 * step: the owner becomes the current context (so the globals the SDK reads are that tab's, and a
 * timer it creates belongs to it), the callback runs, and every microtask it queued runs before
 * the next step. Nothing waits in real time.
 */
import { setImmediate as realSetImmediate } from 'node:timers'

/** What a task is, for the trace and for freezing (a bfcache restore loses held messages). */
export type TaskKind =
  | 'timer'
  | 'message'
  | 'lock'
  | 'net'
  | 'server'
  | 'action'
  | 'page'
  | 'storage'
  | 'sim'

/** Trace text, built only when a run is traced. */
export type Label = string | (() => string)

/** The text of a label. */
export function labelText(label: Label): string {
  return typeof label === 'string' ? label : label()
}

/** A callback due at a point of virtual (monotonic) time. */
export interface Task {
  /** Queue order: ties in time run in this order (renewed when a frozen tab resumes). */
  order: number
  /** Monotonic ms at which it is due. */
  at: number
  readonly owner: Context
  readonly kind: TaskKind
  /** What it is, for the trace; a function when building the text costs (only traced runs call it). */
  readonly label: Label
  readonly run: () => void
  cancelled: boolean
}

/** Something that owns tasks: a tab, or the world. */
export interface Context {
  readonly name: string
  status: 'live' | 'frozen' | 'crashed'
  /** Tasks that came due while the context was frozen, in order. */
  readonly held: Task[]
  /** Pending timers (setTimeout, setInterval) by the id handed to the page. */
  readonly timers: Map<number, Task>
  /** Whether the page is hidden: its timers then fire on whole seconds (background throttling). */
  hidden(): boolean
}

/** How the scheduler reports what it does, for the trace and the attribution check. */
export interface SchedulerHooks {
  /** A step is about to run `task`. */
  step(task: Task): void
  /** Platform code ran outside any step (a broken attribution assumption). */
  outside(what: string): void
  /** Whether `context` may own timers (the world may not: only tabs run SDK code). */
  mayOwnTimers(context: Context): boolean
  /**
   * A task threw: in a browser the exception goes to the page's `error` event and the page runs
   * on, so the run goes on too, and the world decides what it means.
   */
  uncaught?(task: Task, error: unknown): void
}

/** Browsers run a background tab's timers at most once a second (Chrome, Firefox, Safari). */
const HIDDEN_TIMER_ALIGNMENT = 1_000

/**
 * The clock and the queue.
 *
 * Time: `now` is monotonic (what timers and `performance.now()` count); the wall clock
 * (`Date.now()`) is `now + wallOffset`. A machine that sleeps with its monotonic clock stopped
 * moves only the wall clock (pending timers are delayed by the sleep); one whose monotonic clock
 * runs on moves both (every timer that fell due meanwhile fires at once on wake-up).
 */
export class Scheduler {
  now = 0
  wallOffset: number
  /** The context whose step is running, `undefined` between steps. */
  current: Context | undefined
  /** Set between steps in strict mode: any platform call then is a misattribution. */
  guard = false
  steps = 0
  private readonly heap: Task[] = []
  private nextOrder = 1
  private nextTimerId = 1

  constructor(
    wallStart: number,
    private readonly hooks: SchedulerHooks,
  ) {
    this.wallOffset = wallStart
  }

  /** The wall clock, epoch ms. */
  wall(): number {
    return this.now + this.wallOffset
  }

  /** The context platform code runs for right now; reports a call made outside every step. */
  owner(what: string): Context | undefined {
    if (this.current === undefined || this.guard) this.hooks.outside(what)
    return this.current
  }

  /** Queues `run` for `owner`, `delay` ms from now. */
  schedule(owner: Context, delay: number, kind: TaskKind, label: Label, run: () => void): Task {
    const task: Task = {
      order: this.nextOrder++,
      at: this.now + Math.max(0, delay),
      owner,
      kind,
      label,
      run,
      cancelled: false,
    }
    this.push(task)
    return task
  }

  /** `setTimeout` and `setInterval` of the current context. */
  addTimer(callback: unknown, delay: unknown, args: unknown[], repeat: boolean): number {
    const owner = this.owner(repeat ? 'setInterval' : 'setTimeout')
    if (owner === undefined || typeof callback !== 'function') return 0
    if (!this.hooks.mayOwnTimers(owner))
      this.hooks.outside(`${repeat ? 'setInterval' : 'setTimeout'} in ${owner.name}`)
    // WebIDL `long`, as browsers convert it: whole milliseconds (so Date.now() stays whole too).
    let ms = Math.trunc(Number(delay))
    if (!(ms >= 0) || ms > 2_147_483_647) ms = 0
    const id = this.nextTimerId++
    const label = () =>
      `timer ${(callback as { name?: string }).name || 'anonymous'} ${Math.round(ms)}ms`
    const arm = (after: number): void => {
      owner.timers.set(
        id,
        this.schedule(owner, this.timerDelay(owner, after), 'timer', label, fire),
      )
    }
    const fire = (): void => {
      // An interval is re-armed first, so that clearInterval inside the callback stops it.
      if (repeat) arm(Math.max(ms, 1))
      else owner.timers.delete(id)
      ;(callback as (...a: unknown[]) => void)(...args)
    }
    arm(ms)
    return id
  }

  /** `clearTimeout` / `clearInterval` (one id space, as in browsers), for the current context. */
  clearTimer(id: unknown): void {
    const owner = this.owner('clearTimeout')
    if (owner === undefined || typeof id !== 'number') return
    const task = owner.timers.get(id)
    if (task === undefined) return
    task.cancelled = true
    owner.timers.delete(id)
  }

  private timerDelay(owner: Context, ms: number): number {
    if (!owner.hidden()) return ms
    const due = this.now + ms
    return Math.ceil(due / HIDDEN_TIMER_ALIGNMENT) * HIDDEN_TIMER_ALIGNMENT - this.now
  }

  /**
   * The next task to run, or `undefined` when none is due by `limit`. Tasks of a frozen context
   * are set aside (run on resume); tasks of a crashed one are dropped.
   */
  next(limit: number): Task | undefined {
    for (;;) {
      const task = this.heap[0]
      if (task === undefined || task.at > limit) return undefined
      this.pop()
      if (task.cancelled) continue
      if (task.owner.status === 'crashed') continue
      if (task.owner.status === 'frozen') {
        task.owner.held.push(task)
        continue
      }
      return task
    }
  }

  /** Monotonic time of the next pending task, `Infinity` when none. */
  peek(): number {
    while (this.heap[0]?.cancelled) this.pop()
    return this.heap[0]?.at ?? Number.POSITIVE_INFINITY
  }

  /**
   * Runs one step: `task` in its owner's context, then every microtask it queued. In strict mode
   * a further macrotask turn follows with no context current, so any leftover work that needed
   * more than one turn is reported as running outside a step.
   */
  async run(task: Task, strict: boolean): Promise<void> {
    if (task.at > this.now) this.now = task.at
    this.steps++
    this.hooks.step(task)
    this.current = task.owner
    try {
      task.run()
    } catch (error) {
      if (this.hooks.uncaught === undefined) throw error
      this.hooks.uncaught(task, error)
    } finally {
      await drain()
      this.current = undefined
    }
    if (strict) {
      this.guard = true
      await drain()
      this.guard = false
    }
  }

  /** Sets `context`'s held tasks due now again, in order; `keep` filters them. */
  resume(context: Context, keep: (task: Task) => boolean): void {
    const held = context.held.splice(0)
    for (const task of held) {
      if (!keep(task)) continue
      // A fresh place in the queue, after every task already due now, in the held order.
      task.at = this.now
      task.order = this.nextOrder++
      this.push(task)
    }
  }

  /** The machine slept `ms`: see the class comment for the two kinds of clocks. */
  sleep(ms: number, monotonicRuns: boolean): void {
    if (monotonicRuns) this.now += ms
    else this.wallOffset += ms
  }

  /** Every pending task, for the quiet check and the end-of-run report. */
  pending(): readonly Task[] {
    return this.heap
  }

  private push(task: Task): void {
    const heap = this.heap
    heap.push(task)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(task, heap[parent] as Task)) break
      heap[i] = heap[parent] as Task
      i = parent
    }
    heap[i] = task
  }

  private pop(): void {
    const heap = this.heap
    const last = heap.pop()
    if (last === undefined || heap.length === 0) return
    let i = 0
    for (;;) {
      const left = 2 * i + 1
      if (left >= heap.length) break
      const right = left + 1
      const child =
        right < heap.length && before(heap[right] as Task, heap[left] as Task) ? right : left
      if (!before(heap[child] as Task, last)) break
      heap[i] = heap[child] as Task
      i = child
    }
    heap[i] = last
  }
}

function before(a: Task, b: Task): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order)
}

/**
 * Lets every microtask queued so far run, and those they queue: a real macrotask turn. Node runs
 * the whole microtask queue (and process.nextTick) before an immediate.
 */
export function drain(): Promise<void> {
  return new Promise((resolve) => realSetImmediate(resolve))
}
