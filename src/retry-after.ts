const DELAY_SECONDS = /^\d+$/

/**
 * Reads a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 *
 * @param header - the header value, `null` when absent
 * @param now - local time, epoch ms, to count an HTTP-date from
 * @returns the delay in ms (0 for a date in the past), `undefined` when absent or unreadable
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  const value = header?.trim()
  if (!value) return undefined
  if (DELAY_SECONDS.test(value)) return Number(value) * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
