/**
 * Reads a `Retry-After` header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 *
 * @param header - the header value, `null` when absent
 * @param now - local time, epoch ms, to count an HTTP-date from
 * @returns the delay in ms (0 for a date in the past), `undefined` when absent or unreadable
 * @see https://www.rfc-editor.org/rfc/rfc9110#section-10.2.3
 */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  // An absent header reads as "null": neither form.
  const value = String(header).trim()
  if (/^\d+$/.test(value)) return Number(value) * 1000
  // Every HTTP-date form names its month; V8 alone would read "1.5" or "-5" as dates.
  const date = /jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec/i.test(value)
    ? Date.parse(value)
    : Number.NaN
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
