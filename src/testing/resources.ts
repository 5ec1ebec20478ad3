/**
 * Whether a value may be a resource indicator: an absolute URI without a fragment (RFC 8707 §2).
 * A query is allowed (the RFC only discourages it).
 *
 * @param value - the value
 * @returns true for a well-formed resource indicator
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function isResourceIndicator(value: unknown): value is string {
  return typeof value === 'string' && URL.canParse(value) && !value.includes('#')
}

/** The `resource` parameters of one request, checked against the resources the server knows. */
export type ResourceRequest =
  | { readonly ok: true; readonly resources: readonly string[] }
  | { readonly ok: false; readonly error: 'invalid_target'; readonly description: string }

/**
 * Reads the `resource` parameters of an authorization or token request: each must be a
 * well-formed resource indicator the server knows (compared character for character), else
 * `invalid_target`.
 *
 * @param values - every `resource` parameter of the request, in order
 * @param known - the resource indicators the server knows (`resources` option)
 * @returns the requested resources, without repeats, or the error
 * @see https://www.rfc-editor.org/rfc/rfc8707#section-2
 */
export function readResourceParameters(
  values: readonly string[],
  known: readonly string[],
): ResourceRequest {
  for (const value of values) {
    if (!isResourceIndicator(value)) {
      return {
        ok: false,
        error: 'invalid_target',
        description: '"resource" must be an absolute URI without a fragment',
      }
    }
    if (!known.includes(value)) {
      return {
        ok: false,
        error: 'invalid_target',
        description: `"resource" ${value} is not a resource this server issues tokens for`,
      }
    }
  }
  return { ok: true, resources: [...new Set(values)] }
}
