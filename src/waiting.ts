/**
 * Rejects with the signal's reason when it aborts, without cancelling `promise` itself: a caller
 * may stop waiting for a renewal that others still share.
 *
 * @param promise - what the caller waits for
 * @param signal - the caller's signal, if any
 */
export function abortable<T>(
  promise: Promise<T>,
  signal: AbortSignal | null | undefined,
): Promise<T> {
  if (!signal) return promise
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort)
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
  })
}

/**
 * Resolves with whether `promise` settled (either way) within `ms`; never rejects.
 *
 * @param promise - what to wait for
 * @param ms - the longest wait
 */
export function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const settled = () => true
  return Promise.race([
    promise.then(settled, settled),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(resolve, ms, false)
    }),
  ]).finally(() => clearTimeout(timer))
}
