/**
 * The simulator's only source of randomness: a seeded PRNG (sfc32, seeded through splitmix32).
 * One seed gives independent named streams, so that what the scenario decides (which tab, which
 * action) does not shift when the SDK draws one more `Math.random()` for its jitter.
 */

/** A stream of pseudo-random numbers. */
export interface Random {
  /** A float in [0, 1). */
  next(): number
  /** An integer in [min, max], both included. */
  int(min: number, max: number): number
  /** A float in [min, max). */
  between(min: number, max: number): number
  /** True with probability `p`. */
  chance(p: number): boolean
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T
  /** One value, chosen with the given weights. */
  weighted<T>(choices: readonly (readonly [T, number])[]): T
  /** Fills `bytes` with random bytes (the mock's token values, through `crypto.getRandomValues`). */
  fill(bytes: Uint8Array): void
}

function splitmix32(state: number): () => number {
  let s = state >>> 0
  return () => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
}

/** A 32-bit hash of a stream's name, to derive its seed. */
function hashName(name: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0
  return h
}

/**
 * Creates the stream `name` of `seed`.
 *
 * @param seed - the run's seed (any integer)
 * @param name - the stream's name ('scenario', 'network', 'sdk', ...)
 */
export function createRandom(seed: number, name: string): Random {
  const init = splitmix32((seed ^ hashName(name)) >>> 0)
  let a = init()
  let b = init()
  let c = init()
  let d = init()
  const next32 = (): number => {
    // sfc32
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = (c << 21) | (c >>> 11)
    c = (c + t) >>> 0
    return t
  }
  for (let i = 0; i < 12; i++) next32()
  const next = (): number => next32() / 4_294_967_296
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    between: (min, max) => min + next() * (max - min),
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      return items[Math.floor(next() * items.length)] as T
    },
    weighted<T>(choices: readonly (readonly [T, number])[]): T {
      const total = choices.reduce((sum, [, weight]) => sum + weight, 0)
      let x = next() * total
      for (const [value, weight] of choices) {
        x -= weight
        if (x < 0) return value
      }
      return (choices[choices.length - 1] as readonly [T, number])[0]
    },
    fill(bytes) {
      for (let i = 0; i < bytes.length; i += 4) {
        const word = next32()
        for (let j = 0; j < 4 && i + j < bytes.length; j++) bytes[i + j] = (word >>> (8 * j)) & 0xff
      }
    },
  }
}
