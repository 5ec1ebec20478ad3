/** Types of serve.mjs, for test/e2e/demo.test.ts. */

/**
 * Serves a folder's files over HTTP on 127.0.0.1: `/` is index.html; nothing outside the folder is
 * reachable; nothing is cached.
 *
 * @param dir - the folder to serve
 * @param port - the port, 0 for one the OS picks
 * @returns the server's URL and a way to stop it
 */
export declare function serveStatic(
  dir: string,
  port: number,
): Promise<{ readonly url: string; close(): Promise<void> }>
