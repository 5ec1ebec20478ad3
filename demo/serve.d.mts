/** Types of serve.mjs, for test/e2e/demo.test.ts. */

/** The path of the sign-in page: index.html again, the client's redirect URI. */
export declare const SIGN_IN_PATH: '/sign-in'

/**
 * Serves a folder's files over HTTP on 127.0.0.1: `/` (and each of `extras.pages`) is index.html;
 * `/demo-config.json` is `extras.config()` when given; nothing outside the folder is reachable;
 * nothing is cached.
 *
 * @param dir - the folder to serve
 * @param port - the port, 0 for one the OS picks
 * @param extras - more paths of index.html, and the page's configuration
 * @returns the server's URL and a way to stop it
 */
export declare function serveStatic(
  dir: string,
  port: number,
  extras?: { pages?: string[]; config?: () => unknown },
): Promise<{ readonly url: string; close(): Promise<void> }>

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** The demo's port, 0 for one the OS picks. @default 0 */
  port?: number
  /** Access token lifetime at the authorization server, in seconds. @default 30 */
  accessTokenTtl?: number
  /** The session's lifetime from the login, in seconds. @default 180 */
  sessionTtl?: number
  /** How long before the session's end the page is told, in milliseconds. @default 60_000 */
  sessionEndingNotice?: number
}

/**
 * Serves the built demo and starts its authorization server (oidc-provider on loopback): the page
 * at `/` runs the mock, at `/sign-in` it signs in at the authorization server.
 *
 * @param dir - the built demo
 * @returns the demo's URLs, the authorization server's issuer, and a way to stop both
 */
export declare function startDemo(
  dir: string,
  options?: DemoOptions,
): Promise<{
  readonly url: string
  readonly signInUrl: string
  readonly issuer: string
  close(): Promise<void>
}>
