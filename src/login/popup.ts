import { LoginError } from '../errors.js'
import type { TokenSet } from '../token-set.js'
import { authorizationRequest } from './authorization-request.js'
import { completeSignIn } from './authorization-response.js'
import { type LoginContext, type LoginOptions, POPUP_MESSAGE } from './context.js'
import { POPUP_POLL, POPUP_TIMEOUT } from './timing.js'

/**
 * Signs in through a popup that the caller opened in the click (so no blocker stops it): sends
 * the popup to the authorization endpoint, takes the response only from that popup and only from
 * this origin, and redeems the code here. The popup closed by the user gives `popup_closed`
 * (seen within two polls), one that does not come back in time `popup_timeout`.
 *
 * @param popup - the window opened in the click, or `null` when it was blocked
 * @returns the new session's tokens
 * @throws {LoginError} `popup_blocked`, `popup_closed`, `popup_timeout`, and every error of
 *   {@link completeSignIn}
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-4.1
 */
export async function signInWithPopup(
  context: LoginContext,
  popup: Window | null,
  options: LoginOptions | undefined,
): Promise<TokenSet> {
  if (!popup) throw new LoginError('popup_blocked', 'the browser did not open the popup')
  let stop = (): void => undefined
  try {
    const { url, attempt } = await authorizationRequest(context, options, false)
    popup.location.href = url
    const response = await new Promise<URL>((resolve, reject) => {
      /** The polls that found the popup closed: a response it posted just before arrives first. */
      let closedSeen = 0
      const onMessage = (event: MessageEvent) => {
        const data = event.data as { type?: unknown; url?: unknown } | null
        if (
          event.origin !== globalThis.location.origin ||
          event.source !== popup ||
          data?.type !== POPUP_MESSAGE ||
          typeof data.url !== 'string'
        ) {
          return
        }
        const received = new URL(data.url)
        // Another attempt's response (a stale popup) is not this one's.
        if (received.searchParams.get('state') === attempt.state) resolve(received)
      }
      const poll = setInterval(() => {
        closedSeen = popup.closed ? closedSeen + 1 : 0
        if (closedSeen > 1) reject(new LoginError('popup_closed', 'the popup was closed'))
      }, POPUP_POLL)
      const timer = setTimeout(
        () => reject(new LoginError('popup_timeout', 'the popup did not come back in time')),
        POPUP_TIMEOUT,
      )
      globalThis.addEventListener('message', onMessage)
      stop = () => {
        clearInterval(poll)
        clearTimeout(timer)
        globalThis.removeEventListener('message', onMessage)
      }
    })
    stop()
    popup.close()
    return (await completeSignIn(context, response, attempt)).tokens
  } catch (error) {
    stop()
    popup.close()
    throw error
  }
}
