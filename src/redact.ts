/** The named character references an HTML escaper uses for the characters HTML gives a meaning. */
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

/**
 * Reads the character references of an HTML-escaped text (`&quot;`, `&#34;`, `&#x22;` ...), in
 * whatever mix an escaper wrote them (Python's `html.escape` writes `&quot;` and `&#x27;`), so a
 * token quoted that way is found like a raw one. Only these five names and numeric references.
 */
function unescapeHtml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (reference, name: string) => {
    if (name[0] !== '#') return NAMED[name.toLowerCase()] as string
    const hex = name[1] === 'x' || name[1] === 'X'
    const code = Number.parseInt(name.slice(hex ? 2 : 1), hex ? 16 : 10)
    return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : reference
  })
}

/**
 * The forms in which a server may echo `token` back: as sent in the form body
 * (`application/x-www-form-urlencoded`: `+` for a space, `%2B` for a plus), percent-encoded with
 * `%20`, either with upper- or lower-case hex, inside a JSON string (with and without `\/`), and
 * raw. HTML escapes are read back before these are looked for (see {@link unescapeHtml}).
 */
function echoedForms(token: string): Set<string> {
  const form = new URLSearchParams({ t: token }).toString().slice(2)
  const json = JSON.stringify(token).slice(1, -1)
  return new Set(
    [form, encodeURIComponent(token), json, json.replaceAll('/', '\\/'), token].flatMap((echo) => [
      echo,
      echo.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    ]),
  )
}

/**
 * Removes every form of the given tokens from a text a server wrote, such as an RFC 6749 §5.2
 * `error_description` that quotes the request it rejects. HTML character references in the text
 * are read first, so the result shows them as the characters they stand for.
 *
 * @param text - the server's text
 * @param tokens - the session's tokens; absent ones are skipped
 * @returns the text with each token replaced by `[redacted]`
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.3
 */
export function redactTokens(text: string, tokens: readonly (string | undefined)[]): string {
  text = unescapeHtml(text)
  for (const token of tokens) {
    if (token) for (const echo of echoedForms(token)) text = text.replaceAll(echo, '[redacted]')
  }
  return text
}
