/** Small helpers shared by the interop tests. */
import type { TokenClient } from 'freshtoken'

/**
 * Resolves with the payload of the next `event`, or rejects after `timeout` ms: a bounded wait for
 * something the SDK does on its own (a proactive renewal), never a sleep.
 */
export function nextEvent<E extends 'refresh' | 'tokens' | 'expired' | 'logout' | 'error'>(
  auth: TokenClient,
  event: E,
  timeout: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off()
      reject(new Error(`no "${event}" event within ${timeout} ms`))
    }, timeout)
    const off = auth.on(event, (payload) => {
      clearTimeout(timer)
      off()
      resolve(payload)
    })
  })
}
