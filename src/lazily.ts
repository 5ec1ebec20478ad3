/**
 * Loads something once, on the first call: later calls share the result. A load that fails is
 * tried again by the next call (a chunk the page's own server could not serve a moment ago).
 *
 * @param load - starts the load
 * @returns the memoised loader
 */
export function lazily<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined
  return () =>
    (loading ??= load().catch((error: unknown) => {
      loading = undefined
      throw error
    }))
}
