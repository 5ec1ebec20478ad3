/**
 * Small `node:http` helpers shared by the real-server fixtures: body reading, JSON answers, CORS
 * and closing a server that still holds keep-alive connections.
 */
import { type IncomingMessage, request, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** Reads the whole request body as UTF-8 text. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Whether the request's media type is `type` (parameters such as `charset` ignored). */
export function hasMediaType(req: IncomingMessage, type: string): boolean {
  const header = req.headers['content-type'] ?? ''
  return header.split(';')[0]?.trim().toLowerCase() === type
}

/** Parses an `application/x-www-form-urlencoded` body; repeated names keep the first value. */
export function parseForm(text: string): Record<string, string> {
  const form: Record<string, string> = {}
  for (const [name, value] of new URLSearchParams(text)) {
    if (!(name in form)) form[name] = value
  }
  return form
}

/** Sends a JSON answer that no cache may keep (RFC 6749 §5.1 asks that of token responses). */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json;charset=UTF-8',
    'Content-Length': String(Buffer.byteLength(text)),
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
  })
  res.end(text)
}

/** Sends a response without a body. */
export function sendEmpty(
  res: ServerResponse,
  status: number,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { ...headers, 'Content-Length': '0', 'Cache-Control': 'no-store' })
  res.end()
}

/** CORS policy of a fixture: which page origins may call it. */
export interface CorsPolicy {
  /** Page origins allowed to read responses, for example `http://localhost:5173`. */
  readonly allowedOrigins: readonly string[]
}

/**
 * Adds the CORS response headers a real API sends when the request comes from an allowed origin:
 * the exact origin (not `*`), `Vary: Origin`, and `WWW-Authenticate` exposed so that a browser app
 * can read the RFC 6750 §3 challenge.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, policy: CorsPolicy): void {
  res.setHeader('Vary', 'Origin')
  const origin = req.headers.origin
  if (origin === undefined || !policy.allowedOrigins.includes(origin)) return
  res.setHeader('Access-Control-Allow-Origin', origin)
  res.setHeader('Access-Control-Expose-Headers', 'WWW-Authenticate')
}

/** Answers a CORS preflight (`OPTIONS`); the allow-headers are only sent to allowed origins. */
export function answerPreflight(req: IncomingMessage, res: ServerResponse, policy: CorsPolicy) {
  applyCors(req, res, policy)
  const origin = req.headers.origin
  if (origin !== undefined && policy.allowedOrigins.includes(origin)) {
    res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
    res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type')
  }
  sendEmpty(res, 204)
}

/** Starts `server` on 127.0.0.1 with a random free port and returns its origin. */
export async function listenOnLoopback(server: Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { port } = server.address() as AddressInfo
  return `http://127.0.0.1:${port}`
}

/** Closes `server`, dropping idle keep-alive sockets so that `close()` resolves promptly. */
export async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return
  const closed = new Promise<void>((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
  })
  server.closeAllConnections()
  await closed
}

/** A response read by {@link postForm}. */
export interface PlainResponse {
  status: number
  headers: IncomingMessage['headers']
  body: string
}

/**
 * POSTs a form with `node:http`, bypassing `globalThis.fetch`: under happy-dom that global is the
 * simulated browser's fetch (CORS, page origin), which a fixture's own login must not depend on.
 */
export function postForm(url: string, form: Record<string, string>): Promise<PlainResponse> {
  const body = new URLSearchParams(form).toString()
  return new Promise((resolvePromise, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'Content-Length': String(Buffer.byteLength(body)),
        },
      },
      (res) => {
        readBody(res).then(
          (text) =>
            resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
          reject,
        )
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}
