// How the timing parts measure and summarise: interleaved calls, medians, percentiles and their
// spread over rounds. Shared by bench/run.mjs (a) in Node), bench/sign-in.mjs (h)) and
// bench/dpop.mjs (i)), which sends `interleave` and `timed` into a Chromium page as source text:
// both use only their parameters and the globals that Node and a page share.

/** The middle value of `values` (the mean of the middle two for an even count). */
export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** The value at rank ceil(q * n) of the sorted values (nearest rank). */
export function percentile(values, q) {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]
}

export const fmt = (value, digits = 3) => value.toFixed(digits)

const quartiles = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q) => sorted[Math.round(q * (sorted.length - 1))]
  return [at(0.25), at(0.75)]
}

/** `min to max, middle half q1 to q3` of per-round values. */
export const spread = (values, digits) => {
  const [q1, q3] = quartiles(values)
  const f = (value) => fmt(value, digits)
  return `${f(Math.min(...values))} to ${f(Math.max(...values))}, middle half ${f(q1)} to ${f(q3)}`
}

/** The same work as native fetch: a 200 with a JSON body read to the end. */
export async function timed(call) {
  const start = performance.now()
  const response = await call()
  await response.json()
  const elapsed = performance.now() - start
  if (response.status !== 200) throw new Error(`API answered ${response.status}`)
  return elapsed
}

/**
 * Runs every variant once per slot, in an order shuffled anew for each slot, so drift from GC, JIT,
 * CPU frequency or a busy neighbour hits each alike and no variant always follows the same one
 * (whose leftovers, such as a connection not yet back in the pool, it would inherit). Every call
 * goes through the same `measure`, so no variant gets a call site of its own to be optimised for.
 */
export async function interleave(variants, slots, measure) {
  const names = Object.keys(variants)
  const samples = Object.fromEntries(names.map((name) => [name, []]))
  for (let slot = 0; slot < slots; slot += 1) {
    const order = [...names]
    for (let i = order.length - 1; i > 0; i -= 1) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[order[i], order[j]] = [order[j], order[i]]
    }
    for (const name of order) samples[name].push(await measure(variants[name]))
  }
  return samples
}
