/** Escapes of the characters HTML gives a meaning to, as a server's error page would write them. */
const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/**
 * The forms in which a server may echo `token` back: as sent in the form body
 * (`application/x-www-form-urlencoded`: `+` for a space, `%2B` for a plus), percent-encoded with
 * `%20` and with lower-case hex, inside a JSON string (with and without `\/`), HTML-escaped, and
 * raw.
 */
function echoedForms(token: string): Set<string> {
  const form = new URLSearchParams({ t: token }).toString().slice(2)
  const json = JSON.stringify(token).slice(1, -1)
  return new Set(
    [
      form,
      encodeURIComponent(token),
      json,
      json.replaceAll('/', '\\/'),
      token.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] as string),
      token,
    ].flatMap((echo) => [echo, echo.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase())]),
  )
}

/**
 * Removes every form of the given tokens from a text a server wrote, such as an RFC 6749 §5.2
 * `error_description` that quotes the request it rejects.
 *
 * @param text - the server's text
 * @param tokens - the session's tokens; absent ones are skipped
 * @returns the text with each token replaced by `[redacted]`
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-10.3
 */
export function redactTokens(text: string, tokens: readonly (string | undefined)[]): string {
  for (const token of tokens) {
    if (token) for (const echo of echoedForms(token)) text = text.replaceAll(echo, '[redacted]')
  }
  return text
}
