// `npm run demo`: builds the package when dist/ is stale, builds the demo, serves it on
// 127.0.0.1 (PORT, else 5173, else any free port) together with a real authorization server
// (oidc-provider, demo/auth-server.mjs) on another loopback port, and prints the URLs.
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { distIsFresh, root } from '../bench/dist-freshness.mjs'
import { DEMO_CLIENT_ID, startAuthServer } from './auth-server.mjs'
import { buildDemo } from './build.mjs'

/** The port tried first when PORT is not set. */
const DEFAULT_PORT = 5173

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
}

/** The path of the sign-in page: index.html again, the client's redirect URI. */
export const SIGN_IN_PATH = '/sign-in'
/** The path of the JSON the page reads to find the authorization server. */
const CONFIG_PATH = '/demo-config.json'

/**
 * Serves a folder's files over HTTP on 127.0.0.1: `/` (and each of `extras.pages`) is index.html;
 * `/demo-config.json` is `extras.config()` when given; nothing outside the folder is reachable;
 * nothing is cached, so a rebuilt demo shows at the next reload.
 *
 * @param {string} dir - the folder to serve
 * @param {number} port - the port, 0 for one the OS picks
 * @param {{ pages?: string[], config?: () => unknown }} [extras] - more paths of index.html, and
 *   the page's configuration
 * @returns {Promise<{ url: string, close(): Promise<void> }>} the server's URL and a way to stop it
 */
export function serveStatic(dir, port, extras = {}) {
  const pages = ['/', ...(extras.pages ?? [])]
  const server = createServer(async (request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost')
    if (pathname === CONFIG_PATH && extras.config !== undefined) {
      response.writeHead(200, {
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'no-store',
      })
      response.end(JSON.stringify(extras.config()))
      return
    }
    let file = ''
    try {
      file = join(
        dir,
        normalize(decodeURIComponent(pages.includes(pathname) ? '/index.html' : pathname)),
      )
    } catch {
      // A malformed escape (`/%`) names no file.
    }
    if (!file.startsWith(dir + sep) || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404).end()
      return
    }
    try {
      const body = await readFile(file)
      response.writeHead(200, {
        'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
        'Cache-Control': 'no-store',
      })
      response.end(request.method === 'HEAD' ? undefined : body)
    } catch {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found')
    }
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject)
      const address = /** @type {import('node:net').AddressInfo} */ (server.address())
      resolve({
        url: `http://127.0.0.1:${address.port}/`,
        close: () =>
          new Promise((done) => {
            server.close(() => done())
            // Chromium keeps idle connections open; they would hold close() up.
            server.closeAllConnections()
          }),
      })
    })
  })
}

/**
 * Serves the built demo and starts its authorization server: the page at `/` runs the mock, at
 * {@link SIGN_IN_PATH} it signs in at the authorization server (its redirect URI).
 *
 * @param {string} dir - the built demo ({@link buildDemo})
 * @param {object} [options] - ports and lifetimes
 * @param {number} [options.port] - the demo's port, 0 (the default) for one the OS picks
 * @param {number} [options.accessTokenTtl] - access token lifetime in seconds (default 30)
 * @param {number} [options.sessionTtl] - the session's lifetime in seconds (default 180)
 * @param {number} [options.sessionEndingNotice] - how long before the session's end the page is
 *   told, in milliseconds (default 60_000)
 * @returns {Promise<{ url: string, signInUrl: string, issuer: string, close(): Promise<void> }>}
 *   the demo's URLs, the authorization server's issuer, and a way to stop both
 * @throws {Error} with `code` `EADDRINUSE` when the port is taken
 */
export async function startDemo(dir, options = {}) {
  /** @type {{ issuer: string, close(): Promise<void> } | undefined} */
  let authServer
  const accessTokenTtl = options.accessTokenTtl ?? 30
  const sessionTtl = options.sessionTtl ?? 180
  const config = () => ({
    issuer: authServer?.issuer,
    clientId: DEMO_CLIENT_ID,
    sessionEndingNotice: options.sessionEndingNotice ?? 60_000,
    accessTokenTtl,
    sessionTtl,
  })
  const site = await serveStatic(dir, options.port ?? 0, { pages: [SIGN_IN_PATH], config })
  const signInUrl = new URL(SIGN_IN_PATH, site.url).href
  try {
    authServer = await startAuthServer({
      demoOrigin: new URL(site.url).origin,
      redirectUri: signInUrl,
      accessTokenTtl,
      sessionTtl,
    })
  } catch (error) {
    await site.close()
    throw error
  }
  const auth = authServer
  return {
    url: site.url,
    signInUrl,
    issuer: auth.issuer,
    close: async () => {
      await Promise.all([site.close(), auth.close()])
    },
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!distIsFresh()) {
    console.log('building the package (dist/ is missing or older than src/)…')
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  }
  const dir = await buildDemo()
  const wanted = Number(process.env.PORT ?? DEFAULT_PORT)
  const demo = await startDemo(dir, { port: wanted }).catch((error) => {
    if (error.code !== 'EADDRINUSE') throw error
    console.log(`port ${wanted} is in use; using a free one`)
    return startDemo(dir)
  })
  console.log(`freshtoken demo: ${demo.url}  (Ctrl+C to stop)`)
  console.log(`  mock token server in the page:    ${demo.url}`)
  console.log(`  sign-in at a real OpenID Provider: ${demo.signInUrl}  (any login and password)`)
  console.log(`  the provider (oidc-provider):      ${demo.issuer}`)
}
