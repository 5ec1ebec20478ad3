/**
 * Generators shared by the property tests: hostile values of every kind, and token values that
 * are distinctive enough to search for in an error without matching by accident.
 */
import fc from 'fast-check'

const ALPHANUMERIC = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789']

/**
 * 24 random alphanumerics: long enough that finding them in an error message means the token
 * leaked, never a coincidence.
 */
export const secretCore = fc.string({
  unit: fc.constantFrom(...ALPHANUMERIC),
  minLength: 24,
  maxLength: 24,
})

/** A token value and the distinctive part of it that must never appear in an error. */
export interface Secret {
  readonly value: string
  readonly core: string
}

/** Strings of any kind: ASCII, any code point (lone surrogates included), graphemes. */
export const anyString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('', ' ', '\n', '\u0000', 'null', 'undefined', '0', '-1', '1e3', ' 60', '٣٠'),
)

/** Characters that are legal in an HTTP header value and in RFC 6749's VSCHAR. */
export const VSCHAR = fc.constantFrom(
  ...Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)),
)

/**
 * A token value around a distinctive core: usually a plain `at_…` style value, sometimes with
 * characters from anywhere before or after it (control characters, non-ASCII, quotes).
 */
export const tokenValue: fc.Arbitrary<Secret> = fc
  .record({
    prefix: fc.constantFrom('', 'at_', 'rt_', 'id.'),
    core: secretCore,
    suffix: fc.oneof(
      { weight: 4, arbitrary: fc.constant('') },
      { weight: 1, arbitrary: anyString },
    ),
  })
  .map(({ prefix, core, suffix }) => ({ value: `${prefix}${core}${suffix}`, core }))

/** Numbers that break naive checks: NaN, ±0, ±Infinity, huge, tiny, negative, fractional. */
export const anyNumber = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    -1,
    0.5,
    Number.NaN,
    Infinity,
    -Infinity,
    Number.MAX_VALUE,
    1e306,
    2 ** 53,
  ),
)

/** Anything at all, nested a little: objects, arrays, boxed values, Maps, Dates, BigInts. */
export const junk = fc.anything({
  maxDepth: 2,
  maxKeys: 4,
  withBoxedValues: true,
  withMap: true,
  withSet: true,
  withDate: true,
  withBigInt: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  stringUnit: 'binary',
})

/** What a member of a hostile object may hold. */
export const memberValue = fc.oneof(
  anyString,
  anyNumber,
  fc.constantFrom(undefined, null, true, false),
  junk,
)

/** Keys that misbehave when code copies or merges objects carelessly. */
export const PROTOTYPE_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  'toJSON',
  '__defineGetter__',
] as const

/** One edit applied to an otherwise plausible object. */
export type Edit =
  | { readonly kind: 'delete'; readonly key: string }
  | { readonly kind: 'set'; readonly key: string; readonly value: unknown }

/** Edits over `keys` (the object's own members), prototype-ish keys and random keys. */
export function edits(keys: readonly string[]): fc.Arbitrary<Edit[]> {
  const key = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...keys) },
    { weight: 2, arbitrary: fc.constantFrom(...PROTOTYPE_KEYS) },
    { weight: 1, arbitrary: fc.string() },
  )
  return fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('delete' as const), key }),
      fc.record({ kind: fc.constant('set' as const), key, value: memberValue }),
    ),
    { maxLength: 4 },
  )
}

/**
 * Builds an object with `members` as own enumerable properties, `__proto__` included (as
 * `JSON.parse` makes it), on the given prototype, then applies `changes`.
 */
export function buildObject(
  members: Readonly<Record<string, unknown>>,
  changes: readonly Edit[],
  prototype: object | null = Object.prototype,
): Record<string, unknown> {
  const object = Object.create(prototype) as Record<string, unknown>
  const define = (key: string, value: unknown) =>
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      configurable: true,
      writable: true,
    })
  for (const [key, value] of Object.entries(members)) if (value !== undefined) define(key, value)
  for (const change of changes) {
    if (change.kind === 'delete') delete object[change.key]
    else define(change.key, change.value)
  }
  return object
}

/** The prototypes a hostile object may have: the usual one, none, or one carrying members. */
export const prototypeOf: fc.Arbitrary<object | null> = fc.oneof(
  { weight: 6, arbitrary: fc.constant(Object.prototype) },
  { weight: 1, arbitrary: fc.constant(null) },
  {
    weight: 1,
    arbitrary: fc
      .dictionary(fc.constantFrom('access_token', 'token_type', 'expires_in', 'v', 'tokens'), junk)
      .map((members) => buildObject(members, [])),
  },
)

/** base64url of a JSON value, as in a JWT segment. */
export function base64urlJSON(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url')
}

/** An unsigned JWT whose `exp`/`iat` claims are numbers, missing, or junk. */
export const jwtToken: fc.Arbitrary<Secret> = fc
  .record({
    core: secretCore,
    iat: fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), anyNumber, fc.jsonValue({ maxDepth: 1 })),
    lifetime: fc.oneof(fc.integer({ min: -60, max: 86_400 }), anyNumber),
  })
  .map(({ core, iat, lifetime }) => {
    const exp = typeof iat === 'number' && typeof lifetime === 'number' ? iat + lifetime : lifetime
    const payload = base64urlJSON({ sub: core, iat, exp })
    return { value: `${base64urlJSON({ alg: 'none' })}.${payload}.`, core }
  })

/** A space-separated scope of RFC 6749 §3.3 scope-tokens. */
export const scopeValue = fc
  .array(
    fc.string({
      unit: fc.constantFrom(
        ...Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i)).filter(
          (c) => c !== '"' && c !== '\\',
        ),
      ),
      minLength: 1,
      maxLength: 8,
    }),
    { minLength: 1, maxLength: 3 },
  )
  .map((tokens) => tokens.join(' '))
