/**
 * The API calls a tab has sent with its access token and not yet seen answered. A renewal waits
 * for them (briefly) before it sends the refresh grant: a server that deletes the previous access
 * token when a refresh commits (Django OAuth Toolkit) would answer a call still on its way 401.
 */
export class Traffic {
  /** Calls sent with a token and not yet answered. */
  pending = 0
  #waiting: (() => void)[] = []

  /** One of them was answered, or failed. */
  done(): void {
    if (--this.pending === 0) for (const resolve of this.#waiting.splice(0)) resolve()
  }

  /** Resolves once none is in flight. */
  idle(): Promise<void> {
    return this.pending ? new Promise((resolve) => this.#waiting.push(resolve)) : Promise.resolve()
  }
}
