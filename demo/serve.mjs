// `npm run demo`: builds the package when dist/ is stale, builds the demo, serves it on
// 127.0.0.1 (PORT, else 5173, else any free port) and prints the URL.
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { distIsFresh, root } from '../bench/dist-freshness.mjs'
import { buildDemo } from './build.mjs'

/** The port tried first when PORT is not set. */
const DEFAULT_PORT = 5173

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
}

/**
 * Serves a folder's files over HTTP on 127.0.0.1: `/` is index.html; nothing outside the folder is
 * reachable; nothing is cached, so a rebuilt demo shows at the next reload.
 *
 * @param {string} dir - the folder to serve
 * @param {number} port - the port, 0 for one the OS picks
 * @returns {Promise<{ url: string, close(): Promise<void> }>} the server's URL and a way to stop it
 */
export function serveStatic(dir, port) {
  const server = createServer(async (request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost')
    let file = ''
    try {
      file = join(dir, normalize(decodeURIComponent(pathname === '/' ? '/index.html' : pathname)))
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
        close: () => new Promise((done) => server.close(() => done())),
      })
    })
  })
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!distIsFresh()) {
    console.log('building the package (dist/ is missing or older than src/)…')
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
  }
  const dir = await buildDemo()
  const wanted = Number(process.env.PORT ?? DEFAULT_PORT)
  const server = await serveStatic(dir, wanted).catch((error) => {
    if (error.code !== 'EADDRINUSE') throw error
    console.log(`port ${wanted} is in use; using a free one`)
    return serveStatic(dir, 0)
  })
  console.log(`freshtoken demo: ${server.url}  (Ctrl+C to stop)`)
}
