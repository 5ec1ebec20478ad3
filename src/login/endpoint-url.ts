/**
 * An endpoint URL with the given query parameters, those that are `undefined` left out
 * (RFC 6749 §3.1: parameters sent without a value are treated as omitted, so none is sent).
 *
 * @param endpoint - the endpoint, configured or discovered
 * @param option - the option that names it, and what it is needed for, for the error
 * @param query - the parameters
 * @throws {TypeError} when the endpoint is neither configured nor discovered
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-3.1
 */
export function endpointUrl(
  endpoint: string | undefined,
  option: readonly [name: string, purpose: string],
  query: Record<string, string | readonly string[] | undefined>,
): string {
  if (endpoint === undefined) {
    throw new TypeError(`"${option[0]}" must be given or discovered ${option[1]}`)
  }
  const url = new URL(endpoint)
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.delete(name)
    for (const one of [value ?? []].flat()) url.searchParams.append(name, one)
  }
  return url.href
}
