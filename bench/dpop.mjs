// i) What DPoP (RFC 9449) costs per API call in real Chromium, beside a Bearer call: a page on
// 127.0.0.1 loads dist/index.js as published, its chunks on demand as files of their own, ky and
// jwt-decode through an import map. It calls an API on another loopback origin (node:http,
// answering 200 at once, CORS as a real API: preflights allow Authorization and DPoP, answers
// expose DPoP-Nonce) with native fetch, with auth.fetch of a Bearer client and with auth.fetch of
// a DPoP client, interleaved call by call. Then the SDK's own cost per call, Bearer against DPoP,
// against a fetch stub that resolves at once, and the raw cost of the ECDSA P-256 signature of a
// proof, in the same page.
//
// The sessions come from `auth.setTokens` (DPoP-bound for the DPoP clients); a token endpoint in
// the bench answers any refresh grant (DPoP-bound when a proof came with it), and is not expected
// to be called. The API does not verify proofs while timing: it keeps them, and they are checked
// afterwards (signature with the proof's own key, typ, alg, htm, htu, ath, iat, a fresh jti each).
import { createHash } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { root } from './dist-freshness.mjs'
import { listen } from './loopback.mjs'
import { fmt, interleave, median, percentile, spread, timed } from './measure.mjs'

const SCENARIO = {
  /**
   * Calls through the network: per kind, interleaved, after `warmup` calls of each. Once
   * `minRounds` are done, no round starts that would, at the pace so far, end more than
   * `budgetMs` after the part started (Chromium's start included): on a loaded machine a call
   * takes several ms, and the part, with the stub's 5 to 10 s after this, should end in a minute.
   */
  network: { rounds: 10, calls: 200, warmup: 100, budgetMs: 45_000, minRounds: 3 },
  /** Calls against the fetch stub: `batches` timed batches of `batch` calls per kind, per round. */
  stub: { rounds: 10, batches: 20, batch: 50, warmupBatches: 10 },
}

/** The kinds of call through the network, by name, and how the output calls them. */
const NETWORK = {
  native: 'native fetch',
  bearer: 'auth.fetch, Bearer',
  dpop: 'auth.fetch, DPoP',
}
/** The kinds of call against the stub. */
const STUB = {
  stub: 'the stub itself',
  bearer: 'auth.fetch, Bearer',
  general: 'auth.fetch, Bearer, own headers',
  dpop: 'auth.fetch, DPoP',
  sign: 'crypto.subtle.sign',
}
const label = (text, width) => text.padEnd(width)

/** Where the page's modules come from: the built package, and its two dependencies. */
const MOUNTS = {
  '/dist/': join(root, 'dist'),
  '/ky/': dirname(fileURLToPath(import.meta.resolve('ky'))),
  '/jwt-decode/': dirname(fileURLToPath(import.meta.resolve('jwt-decode'))),
}
const IMPORT_MAP = {
  imports: {
    freshtoken: '/dist/index.js',
    ky: '/ky/index.js',
    'jwt-decode': '/jwt-decode/index.js',
  },
}
const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>freshtoken: DPoP cost per call</title>
<link rel="icon" href="data:,">
<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>
<script type="module">
  import('freshtoken').then(
    (freshtoken) => { window.freshtoken = freshtoken },
    (error) => { window.loadError = String(error) },
  )
</script>
`

/**
 * Serves the page and its modules. Cross-origin isolated (COOP + COEP), so that
 * `performance.now()` has Chromium's fine resolution (5 µs, not 100 µs); the API answers CORS,
 * which is all COEP asks of it.
 */
function startPage() {
  const isolated = {
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
    'cache-control': 'no-store',
  }
  return listen((request, response) => {
    const { pathname } = new URL(request.url, 'http://127.0.0.1')
    if (pathname === '/') {
      response.writeHead(200, { ...isolated, 'content-type': 'text/html; charset=utf-8' })
      return response.end(PAGE)
    }
    for (const [prefix, dir] of Object.entries(MOUNTS)) {
      const file = join(dir, pathname.slice(prefix.length))
      if (!pathname.startsWith(prefix) || !file.startsWith(dir + sep)) continue
      let code
      try {
        code = readFileSync(file)
      } catch {
        break
      }
      response.writeHead(200, { ...isolated, 'content-type': 'text/javascript; charset=utf-8' })
      return response.end(code)
    }
    response.writeHead(404, isolated)
    response.end()
  })
}

/**
 * The API (`GET /<kind>/me`, 200 `{"ok":true}` at once) and a token endpoint (`POST /token`, any
 * refresh grant), on one loopback origin other than the page's. It counts what each kind of call
 * carried, and keeps every DPoP proof for {@link checkProofs}.
 */
async function startApi(pageOrigin) {
  const state = { preflights: 0, tokenRequests: 0, kinds: {}, proofs: [] }
  const cors = { 'access-control-allow-origin': pageOrigin, vary: 'Origin' }
  const answer = (response, status, body) => {
    response.writeHead(status, {
      ...cors,
      'access-control-expose-headers': 'DPoP-Nonce, WWW-Authenticate',
      'content-type': 'application/json',
      'cache-control': 'no-store',
    })
    response.end(JSON.stringify(body))
  }
  let origin
  const server = await listen((request, response) => {
    const { pathname } = new URL(request.url, 'http://127.0.0.1')
    if (request.method === 'OPTIONS') {
      state.preflights += 1
      // Cached by the browser, as a real API lets it be: calls after the first send none.
      response.writeHead(204, {
        ...cors,
        'access-control-allow-methods': 'GET, POST',
        'access-control-allow-headers': 'Authorization, Content-Type, DPoP',
        'access-control-max-age': '600',
      })
      return response.end()
    }
    if (request.method === 'POST' && pathname === '/token') {
      state.tokenRequests += 1
      let body = ''
      request.setEncoding('utf8')
      request.on('data', (chunk) => {
        body += chunk
      })
      request.on('end', () => {
        if (new URLSearchParams(body).get('grant_type') !== 'refresh_token') {
          return answer(response, 400, { error: 'invalid_grant' })
        }
        answer(response, 200, {
          access_token: `renewed-${state.tokenRequests}`,
          token_type: request.headers.dpop ? 'DPoP' : 'Bearer',
          expires_in: 3_600,
          refresh_token: `r-${state.tokenRequests}`,
        })
      })
      return
    }
    const kind = /^\/(\w+)\/me$/.exec(pathname)?.[1]
    if (request.method !== 'GET' || kind === undefined) {
      return answer(response, 404, { error: 'not_found' })
    }
    state.kinds[kind] ??= { requests: 0, bearer: 0, dpop: 0, proofs: 0 }
    const seen = state.kinds[kind]
    const authorization = request.headers.authorization ?? ''
    const proof = request.headers.dpop
    seen.requests += 1
    if (authorization.startsWith('Bearer ')) seen.bearer += 1
    if (authorization.startsWith('DPoP ')) seen.dpop += 1
    if (proof !== undefined) {
      seen.proofs += 1
      state.proofs.push({
        proof,
        token: authorization.slice('DPoP '.length),
        method: request.method,
        url: `${origin}${pathname}`,
        at: Date.now(),
      })
    }
    answer(response, 200, { ok: true })
  })
  origin = server.origin
  return { ...server, state }
}

/**
 * Checks the proofs the API kept, as RFC 9449 §4.3 asks a server to: the signature with the
 * proof's own `jwk`, `typ`, `alg`, `htm`, `htu`, `iat` (within 5 s of arrival), `ath` = BASE64URL(
 * SHA-256(token)), and a `jti` never seen before. Returns how many pass, and how many keys signed.
 */
async function checkProofs(proofs) {
  const jtis = new Set()
  const keys = new Set()
  let valid = 0
  const decode = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  for (const { proof, token, method, url, at } of proofs) {
    try {
      const [header, payload, signature] = proof.split('.')
      const head = decode(header)
      const claims = decode(payload)
      const key = await crypto.subtle.importKey(
        'jwk',
        head.jwk,
        { name: 'ECDSA', namedCurve: 'P-256' },
        false,
        ['verify'],
      )
      const signed = await crypto.subtle.verify(
        { name: 'ECDSA', hash: 'SHA-256' },
        key,
        Buffer.from(signature, 'base64url'),
        Buffer.from(`${header}.${payload}`),
      )
      const fresh = !jtis.has(claims.jti)
      jtis.add(claims.jti)
      keys.add(`${head.jwk.x}.${head.jwk.y}`)
      if (
        signed &&
        fresh &&
        head.typ === 'dpop+jwt' &&
        head.alg === 'ES256' &&
        claims.htm === method &&
        claims.htu === url &&
        Math.abs(claims.iat - at / 1_000) <= 5 &&
        claims.ath === createHash('sha256').update(token).digest('base64url')
      ) {
        valid += 1
      }
    } catch {}
  }
  return { valid, keys: keys.size }
}

/**
 * In the page: makes the clients and times each kind's first call, each client made just before
 * it (so a DPoP client's first call includes loading its chunks and creating its key); then the
 * clients whose fetch is the stub. Runs in the page: it may use only its argument and the page's
 * globals.
 */
async function setUpPage(api) {
  const { createTokenClient } = window.freshtoken
  const stub = () => Promise.resolve(new Response(null))
  const client = (kind, fetch) => {
    const dpop = kind === 'dpop'
    const auth = createTokenClient({
      clientId: `bench-${kind}${fetch ? '-stub' : ''}`,
      tokenEndpoint: `${api}/token`,
      apiOrigins: [api],
      ...(dpop && { dpop: true }),
      ...(fetch && { fetch }),
    })
    auth.setTokens({
      access_token: `token-${kind}`,
      token_type: dpop ? 'DPoP' : 'Bearer',
      refresh_token: 'r',
      expires_in: 3_600,
    })
    return auth
  }
  const headers = { authorization: 'Bearer token-native' }
  const clients = {}
  const network = {
    native: () => fetch(`${api}/native/me`, { headers }),
    bearer: () => clients.bearer.fetch(`${api}/bearer/me`),
    dpop: () => clients.dpop.fetch(`${api}/dpop/me`),
  }
  const first = {}
  for (const kind of Object.keys(network)) {
    if (kind !== 'native') clients[kind] = client(kind)
    first[kind] = await window.timed(network[kind])
  }
  clients.bearerStub = client('bearer', stub)
  clients.dpopStub = client('dpop', stub)
  const url = `${api}/stub/me`
  const stubbed = {
    stub: () => stub(url),
    bearer: () => clients.bearerStub.fetch(url),
    // A header of the call's own takes the general path, as every DPoP call does (part a)).
    general: () => clients.bearerStub.fetch(url, { headers: { accept: 'application/json' } }),
    dpop: () => clients.dpopStub.fetch(url),
  }
  window.bench = { clients, network, stubbed }
  return {
    first,
    isolated: globalThis.crossOriginIsolated,
    chromium: /Chrome\/([\d.]+)/.exec(navigator.userAgent)?.[1] ?? navigator.userAgent,
  }
}

/**
 * In the page: adds the signature alone to the kinds timed against the stub, with a key made as
 * the SDK makes its own (non-extractable P-256) and `signingInput` as the data.
 */
async function addSigning(signingInput) {
  const key = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])
  const data = new TextEncoder().encode(signingInput)
  window.bench.stubbed.sign = () =>
    crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.privateKey, data)
}

/** In the page: `calls` calls of each kind through the network, interleaved; ms per call. */
const networkRound = (calls) => window.interleave(window.bench.network, calls, window.timed)

/**
 * In the page: `batches` batches of `batch` calls of each kind against the stub, interleaved batch
 * by batch; ms per call of each batch.
 */
function stubRound({ batches, batch }) {
  const measure = async (call) => {
    const start = performance.now()
    for (let i = 0; i < batch; i += 1) await call()
    return (performance.now() - start) / batch
  }
  return window.interleave(window.bench.stubbed, batches, measure)
}

/**
 * Runs `round` `rounds` times in the page, or, after `minRounds`, only as many as end by
 * `deadline` (a `performance.now()` time) at the pace so far; each kind's samples, all together
 * and by round.
 */
async function collect(page, kinds, round, arg, rounds, deadline = Infinity, minRounds = rounds) {
  const all = Object.fromEntries(Object.keys(kinds).map((kind) => [kind, []]))
  const byRound = []
  const start = performance.now()
  for (let i = 0; i < rounds; i += 1) {
    const now = performance.now()
    if (i >= minRounds && now + (now - start) / i > deadline) break
    const samples = await page.evaluate(round, arg)
    for (const kind of Object.keys(kinds)) all[kind].push(...samples[kind])
    byRound.push(samples)
  }
  return { all, byRound }
}

/** `median x, p90 y` of `values` in ms, shown in `unit` (`ms` or `µs`). */
function summary(values, unit = 'ms') {
  const scale = unit === 'µs' ? 1_000 : 1
  const digits = unit === 'µs' ? 1 : 3
  const at = (q) => fmt(percentile(values, q) * scale, digits)
  return `median ${at(0.5)} ${unit}, p90 ${at(0.9)} ${unit}`
}

/** Runs part i) and prints its lines; prints why instead when Chromium is not installed. */
export async function benchDpop() {
  const started = performance.now()
  const { network, stub } = SCENARIO
  console.log(
    `\ni) DPoP cost per API call in Chromium: a page on 127.0.0.1 loading dist/index.js, an API on another loopback origin ` +
      `(node:http answering 200 at once, CORS preflights cached); ${Object.keys(NETWORK).length} kinds interleaved call by call ` +
      `in a new random order each time, up to ${network.rounds} rounds x ${network.calls} sequential calls each, after ${network.warmup} warm-up calls each`,
  )
  const { CHROMIUM, launchChromium } = await import('../test/e2e/chromium.ts')
  if (!existsSync(CHROMIUM)) {
    console.log(`   skipped: no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`)
    return
  }
  const pageServer = await startPage()
  const api = await startApi(pageServer.origin)
  const chromium = await launchChromium()
  try {
    const page = await chromium.context.newPage()
    const problems = []
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console error: ${message.text()}`)
    })
    await page.goto(`${pageServer.origin}/`)
    await page.waitForFunction(() => window.freshtoken ?? window.loadError, undefined, {
      timeout: 30_000,
    })
    const loadError = await page.evaluate(() => window.loadError)
    if (loadError) throw new Error(`the page could not load dist/index.js: ${loadError}`)
    // The same functions as part a) uses in Node, as source text: no copy of their own here.
    await page.evaluate(`window.interleave = ${interleave}; window.timed = ${timed}`)

    const setup = await page.evaluate(setUpPage, api.origin)
    // The signature alone, of the signing input of a proof the SDK made (the first call's).
    const first = api.state.proofs[0]?.proof ?? ''
    const signingInput = first.slice(0, first.lastIndexOf('.'))
    await page.evaluate(addSigning, signingInput)

    await collect(page, NETWORK, networkRound, network.warmup, 1)
    const { rounds, calls, budgetMs, minRounds } = network
    const deadline = started + budgetMs
    const net = await collect(page, NETWORK, networkRound, calls, rounds, deadline, minRounds)
    await collect(page, STUB, stubRound, { batches: stub.warmupBatches, batch: stub.batch }, 1)
    const cpu = await collect(page, STUB, stubRound, stub, stub.rounds)
    await page.evaluate(() => {
      for (const auth of Object.values(window.bench.clients)) auth.dispose()
    })
    const proofs = await checkProofs(api.state.proofs)
    reportNetwork(setup, net)
    reportStub(cpu, signingInput)
    reportRequests(net, api.state, proofs)
    if (problems.length > 0) console.log(`   page problems: ${problems.slice(0, 3).join('; ')}`)
  } finally {
    await chromium.close()
    await Promise.all([pageServer.close(), api.close()])
  }
}

/** The calls through the network: each kind, DPoP over Bearer, and the first calls. */
function reportNetwork(setup, net) {
  const { network } = SCENARIO
  const rounds = net.byRound.length
  const resolution = setup.isolated
    ? '5 µs (cross-origin isolated page)'
    : '100 µs (page not cross-origin isolated)'
  console.log(
    `   Chromium ${setup.chromium}; ${rounds} rounds = ${rounds * network.calls} calls per kind` +
      `${rounds < network.rounds ? ` (more would not fit in ${network.budgetMs / 1_000} s: a loaded machine)` : ''}; ` +
      `wall time per call, from the call to its JSON body read, in the page; performance.now() resolution ${resolution}`,
  )
  const medians = (kind) => net.byRound.map((round) => median(round[kind]))
  const native = median(net.all.native)
  for (const kind of Object.keys(NETWORK)) {
    const value = median(net.all[kind])
    const above =
      kind === 'native' ? '' : `, ${fmt((value - native) * 1_000, 1)} µs above native fetch`
    console.log(
      `   ${label(NETWORK[kind], 20)} ${summary(net.all[kind])}${above}; per-round medians ${spread(medians(kind), 3)} ms`,
    )
  }
  const bearer = medians('bearer')
  const overRounds = medians('dpop').map((value, round) => value - bearer[round])
  const over = median(net.all.dpop) - median(net.all.bearer)
  const overP90 = percentile(net.all.dpop, 0.9) - percentile(net.all.bearer, 0.9)
  console.log(
    `   DPoP over Bearer: ${fmt(over)} ms per call at the median (+${fmt((over / median(net.all.bearer)) * 100, 0)} %), ${fmt(overP90)} ms at p90; ` +
      `per-round differences of medians ${spread(overRounds, 3)} ms`,
  )
  console.log(
    `   first call, each client made just before it (cold, one sample each; includes its URL's CORS preflight): native fetch ${fmt(setup.first.native, 1)} ms, ` +
      `Bearer ${fmt(setup.first.bearer, 1)} ms, DPoP ${fmt(setup.first.dpop, 1)} ms (loads the api-fetch and dpop chunks, creates the key in IndexedDB)`,
  )
}

/** The calls against the stub: the SDK's own cost per call, and the signature's. */
function reportStub(cpu, signingInput) {
  const { stub } = SCENARIO
  console.log(
    `   against a fetch stub that resolves at once (no network: the SDK's own cost), ${stub.rounds} rounds x ${stub.batches} batches ` +
      `of ${stub.batch} calls per kind, interleaved batch by batch; per call = a batch's wall time / ${stub.batch}, median and p90 over batches:`,
  )
  // Each batch against the stub batch of its own slot, which ran next to it.
  const above = (samples, kind) => samples[kind].map((value, i) => value - samples.stub[i])
  console.log(`   ${label(STUB.stub, 31)} ${summary(cpu.all.stub, 'µs')} per call`)
  for (const kind of ['bearer', 'general', 'dpop']) {
    const roundMedians = cpu.byRound.map((round) => median(above(round, kind)) * 1_000)
    console.log(
      `   ${label(STUB[kind], 31)} ${summary(above(cpu.all, kind), 'µs')} per call above the stub; per-round medians ${spread(roundMedians, 1)} µs`,
    )
  }
  const at = (kind) => median(above(cpu.all, kind)) * 1_000
  const sign = median(cpu.all.sign) * 1_000
  console.log(
    `   ${label(STUB.sign, 31)} ${summary(cpu.all.sign, 'µs')} per call (ECDSA P-256 / SHA-256, non-extractable key, ` +
      `the ${signingInput.length}-byte signing input of a proof the SDK made)`,
  )
  console.log(
    `   so, at the medians: DPoP costs the SDK ${fmt(at('dpop') - at('bearer'), 1)} µs per call more than Bearer; ` +
      `${fmt(at('general') - at('bearer'), 1)} µs of it is the general path every DPoP call takes, ` +
      `${fmt(at('dpop') - at('general'), 1)} µs the proof, of which ${fmt(sign, 1)} µs the signature alone`,
  )
}

/** What the API saw: every DPoP call with its proof and scheme, and the proofs' validity. */
function reportRequests(net, api, proofs) {
  const { network } = SCENARIO
  const total = network.warmup + net.byRound.length * network.calls + 1
  const dpop = api.kinds.dpop ?? { requests: 0, dpop: 0, proofs: 0 }
  const plain = api.kinds.bearer ?? { requests: 0, bearer: 0, proofs: 0 }
  const carried = dpop.requests === total && dpop.dpop === total && dpop.proofs === total
  console.log(
    `   requests: DPoP client ${dpop.requests} of ${total} sent, ${dpop.dpop} with Authorization: DPoP, ${dpop.proofs} with a DPoP header ` +
      `(${carried ? 'every one' : 'NOT every one'}); Bearer client ${plain.bearer} of ${plain.requests} with Authorization: Bearer, ${plain.proofs} with a DPoP header; ` +
      `token-endpoint calls ${api.tokenRequests}, preflights ${api.preflights}`,
  )
  console.log(
    `   proofs: the API did not verify them while timing; checked afterwards, ${proofs.valid} of ${api.proofs.length} valid ` +
      `(signature with their jwk, typ, alg ES256, htm, htu, iat, ath, a jti each never seen before), signed by ${proofs.keys} key(s)`,
  )
}
