/**
 * Django OAuth Toolkit (DOT) 1.7 as a real token server and resource server for interop tests:
 * a minimal Django project (test/servers/django-oauth-toolkit/) run by Debian's Python, with a
 * fresh SQLite database in a temp dir, one public client and one user. On request it is also an
 * OpenID Connect provider for sign-in: a second public client for the authorization-code grant
 * with PKCE, Django's login form and DOT's consent page (see {@link DjangoOAuthToolkitOptions}).
 *
 * What makes DOT worth testing against: with `ROTATE_REFRESH_TOKEN` (on here) a refresh grant
 * revokes the refresh token presented and *deletes the access token issued with it* in the same
 * transaction, so a request still carrying that access token meets a 401 the moment the refresh
 * commits, while the token had time left. RFC 7009 revocation of a refresh token deletes its
 * access token too.
 *
 * DOT runs in Django's development server with one thread (as `runserver --nothreading`): one
 * request at a time, in the order the connections were accepted, each answered with
 * `Connection: close`. A request's outcome then depends only on the order in which the requests
 * reached the server, never on thread scheduling.
 *
 * Needs `/usr/bin/python3` with Debian's `python3-django-oauth-toolkit` and
 * `python3-django-cors-headers` (.ci/run installs them).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { postForm, readBody } from './http-utils.js'
import { readTokenResponse, type TokenResponseBody } from './token-response.js'

/** Debian's Python, the one that sees Debian's Django packages; `DOT_PYTHON` overrides it. */
export const DOT_PYTHON = process.env.DOT_PYTHON ?? '/usr/bin/python3'

// From a string, not a URL object: under happy-dom, `URL` is the page's and fileURLToPath refuses it.
const projectDir = join(dirname(fileURLToPath(import.meta.url)), 'django-oauth-toolkit')

/** How long the start (Python's imports, the migrations) may take on a busy machine. */
const START_TIMEOUT = 60_000
/** How long a stopped server gets to exit before it is killed outright. */
const STOP_TIMEOUT = 5_000

/** Options of {@link startDjangoOAuthToolkit}. */
export interface DjangoOAuthToolkitOptions {
  /**
   * DOT's `ACCESS_TOKEN_EXPIRE_SECONDS`: whole seconds, sent as `expires_in`.
   * @default 3600
   */
  accessTokenLifetime?: number
  /**
   * Page origins allowed by CORS (django-cors-headers' `CORS_ALLOWED_ORIGINS`).
   * @default []
   */
  allowedOrigins?: readonly string[]
  /**
   * Directory of a test page served at `/` (`index.html`) and `/<file>`.
   * @default undefined (no page)
   */
  staticDir?: string
  /**
   * Redirect URIs of a sign-in client ({@link DjangoOAuthToolkit.signInClientId}): a public
   * client for the authorization-code grant, PKCE required, consent asked every time. With any,
   * DOT is an OpenID Connect provider too (`OIDC_ENABLED`, a fresh RS256 key, scope `openid`).
   * @default [] (no sign-in client, no OpenID Connect)
   */
  signInRedirectUris?: readonly string[]
}

/** DOT's answers as counted by the fixture's middleware (GET /fixture/stats). */
export interface DjangoOAuthToolkitStats {
  /** CORS preflights (`OPTIONS`) on any path. */
  preflights: number
  /** Requests to the protected API (`/api/...`), preflights excluded. */
  apiRequests: number
  /** API answers with status 401. */
  api401s: number
  /** ... to an access token DOT issued and then deleted (by a refresh grant or a revocation). */
  api401sDeletedTokens: number
  /**
   * For each of those, how long after DOT deleted the token it answered the request, ms. A few
   * ms: a request already on its way when a renewal committed; longer: a client that kept using
   * a token it should have replaced.
   */
  api401sMsAfterDeletion: number[]
  /** ... to an access token still stored but past its expiry. */
  api401sExpiredTokens: number
  /** ... to no token, or one DOT never issued. */
  api401sOtherTokens: number
  /** Every `POST /token` or `POST /o/token/`, whatever its outcome. */
  tokenRequests: number
  /** Token requests with `grant_type=password` (logins). */
  passwordGrants: number
  /** Token requests with `grant_type=authorization_code` (sign-ins redeeming their code). */
  authorizationCodeGrants: number
  /** Token requests with `grant_type=refresh_token`. */
  refreshGrants: number
  /** Refresh grants answered 200; each rotated the refresh token. */
  rotations: number
  /** Token endpoint answers with `error=invalid_grant`. */
  invalidGrants: number
  /** `POST /revoke` or `POST /o/revoke_token/` (RFC 7009). */
  revocationRequests: number
  /**
   * Connections closed because no request came on them within 2 s (a browser's speculative
   * preconnect, which would otherwise hold the server's one thread).
   */
  idleConnectionsClosed: number
}

/** A running DOT fixture. */
export interface DjangoOAuthToolkit {
  /** Origin of the server, `http://127.0.0.1:<port>`. */
  readonly url: string
  /** DOT's `TokenView`. */
  readonly tokenEndpoint: string
  /** DOT's `RevokeTokenView` (RFC 7009). */
  readonly revocationEndpoint: string
  /** Base URL of the protected API: `GET {apiUrl}/me` answers `{ sub, client_id, scope }`. */
  readonly apiUrl: string
  /** The public client's id. */
  readonly clientId: string
  /**
   * DOT's OpenID Connect issuer, `{url}/o` (DOT derives it from the request). Its metadata is at
   * `{issuer}/.well-known/openid-configuration/`, with the trailing slash: the URL without it is
   * redirected there (301, Django's APPEND_SLASH). The metadata lists no `revocation_endpoint`.
   */
  readonly issuer: string
  /** DOT's `AuthorizationView`, `{url}/o/authorize/`: login form first, then the consent page. */
  readonly authorizationEndpoint: string
  /** DOT's token endpoint as its metadata names it, `{url}/o/token/` (the same view as `/token`). */
  readonly oauthTokenEndpoint: string
  /** DOT's revocation endpoint under its own routes, `{url}/o/revoke_token/`. */
  readonly oauthRevocationEndpoint: string
  /** The sign-in client's id, when {@link DjangoOAuthToolkitOptions.signInRedirectUris} were given. */
  readonly signInClientId: string | undefined
  /** The user, for Django's login form, and the `sub` DOT puts in its ID tokens (the user's id). */
  readonly user: { readonly username: string; readonly password: string; readonly sub: string }
  /** The access token lifetime in seconds (`ACCESS_TOKEN_EXPIRE_SECONDS`). */
  readonly accessTokenLifetime: number
  /**
   * Logs the user in as the app's login would: DOT's password grant for the public client, over
   * `node:http`, answered with an RFC 6749 §5.1 token response.
   */
  login(): Promise<TokenResponseBody>
  /** Reads DOT's counters. */
  stats(): Promise<DjangoOAuthToolkitStats>
  /**
   * Reads the counters until `done` holds (every 100 ms), for at most `timeout` ms: a wait on
   * what DOT saw, such as a number of refresh grants.
   * @throws when `timeout` passes first, with the last counters read
   */
  waitForStats(
    done: (stats: DjangoOAuthToolkitStats) => boolean,
    timeout: number,
  ): Promise<DjangoOAuthToolkitStats>
  /** Sets every counter back to 0. */
  resetStats(): Promise<void>
  /** Stops the server (and waits until its process is gone), then removes its database. */
  close(): Promise<void>
}

/** How long a read of the counters may take. */
const STATS_TIMEOUT = 10_000

/** GETs a JSON document with `node:http` (under happy-dom, `fetch` is the page's). */
function getJson<T>(url: string): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, (res) => {
      readBody(res).then((text) => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))
        else resolvePromise(JSON.parse(text) as T)
      }, reject)
    })
    req.on('error', reject)
    // The server has one thread: a read that waits this long is a stalled fixture, said as such.
    req.setTimeout(STATS_TIMEOUT, () =>
      req.destroy(new Error(`GET ${url}: no answer in ${STATS_TIMEOUT} ms`)),
    )
    req.end()
  })
}

/** Resolves when `child` has exited (at once if it already has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/**
 * Reads the port and the user's `sub` from the first stdout line of `serve.py`; rejects when the
 * process exits first, or after {@link START_TIMEOUT}, with the end of its stderr (the
 * migrations' or Python's error).
 */
function readyLine(
  child: ChildProcess,
  stderr: () => string,
): Promise<{ port: number; sub: string }> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    const fail = (why: string) => {
      cleanup()
      const hint = /No module named '(oauth2_provider|corsheaders|django)'/.test(stderr())
        ? `\n${DOT_PYTHON} cannot import Django OAuth Toolkit: apt-get install python3-django-oauth-toolkit python3-django-cors-headers`
        : ''
      reject(new Error(`Django OAuth Toolkit fixture ${why}${hint}\n${stderr()}`))
    }
    const onData = (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
      const line = stdout.split('\n', 1)[0]
      if (line === undefined || !stdout.includes('\n')) return
      cleanup()
      const { port, sub } = JSON.parse(line) as { port?: unknown; sub?: unknown }
      if (typeof port === 'number' && typeof sub === 'string') resolve({ port, sub })
      else reject(new Error(`Django OAuth Toolkit fixture printed ${line}`))
    }
    // 'close', not 'exit': by then stderr has been read to its end.
    const onClose = (code: number | null, signal: string | null) =>
      fail(`exited before it was ready (${signal ?? `exit code ${code}`})`)
    const onError = (error: Error) => fail(`could not be started: ${error.message}`)
    const timer = setTimeout(() => fail(`was not ready within ${START_TIMEOUT} ms`), START_TIMEOUT)
    const cleanup = () => {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.off('close', onClose)
      child.off('error', onError)
    }
    child.stdout?.on('data', onData)
    child.once('close', onClose)
    child.once('error', onError)
  })
}

/**
 * Starts DOT on 127.0.0.1 with a port the OS picks, and resolves once it answers HTTP.
 *
 * DOT settings (test/servers/django-oauth-toolkit/fixture/settings.py):
 * `ACCESS_TOKEN_EXPIRE_SECONDS` = `accessTokenLifetime`, `ROTATE_REFRESH_TOKEN = True`,
 * `REFRESH_TOKEN_GRACE_PERIOD_SECONDS = 0`, scopes `api` (the default scope) and `openid`,
 * `PKCE_REQUIRED = True`; with `signInRedirectUris`, `OIDC_ENABLED` and a fresh RSA key. Routes:
 * - `POST /token`: DOT's `TokenView`; the public client `spa` (no secret) may use the password
 *   and refresh_token grants; the sign-in client `spa-signin`, authorization_code and
 *   refresh_token.
 * - `POST /revoke`: DOT's `RevokeTokenView` (RFC 7009).
 * - `GET /api/me`: protected by DOT's OAuthLib core; a missing, unknown, deleted or expired token
 *   gets 401 with `WWW-Authenticate: Bearer realm="api", error="invalid_token", ...`.
 * - `GET /fixture/stats`, `POST /fixture/stats/reset`: the counters.
 * - `GET /`, `GET /<file>`: the test page in `staticDir`, if any.
 * - DOT's own routes under `/o/` (`authorize/`, `token/`, `revoke_token/`, and with OpenID
 *   Connect `.well-known/openid-configuration/`, `.well-known/jwks.json`, `userinfo/`), and
 *   Django's login form at `/accounts/login/`, for the sign-in client.
 * django-cors-headers answers preflights and allows `allowedOrigins`, `Authorization` included,
 * on every answer, redirects included. Django's APPEND_SLASH redirects a path missing its slash.
 *
 * The process exits when {@link DjangoOAuthToolkit.close} is called, and also when this Node.js
 * process goes away (it watches its stdin), so it never outlives the tests.
 *
 * @example
 * const dot = await startDjangoOAuthToolkit({ accessTokenLifetime: 3 })
 * try { auth.setTokens(await dot.login()) } finally { await dot.close() }
 */
export async function startDjangoOAuthToolkit(
  options: DjangoOAuthToolkitOptions = {},
): Promise<DjangoOAuthToolkit> {
  const accessTokenLifetime = options.accessTokenLifetime ?? 3600
  if (!Number.isInteger(accessTokenLifetime) || accessTokenLifetime < 1) {
    throw new TypeError('"accessTokenLifetime" must be a whole number of seconds, at least 1')
  }
  const clientId = 'spa'
  const signInRedirectUris = options.signInRedirectUris ?? []
  const signInClientId = signInRedirectUris.length > 0 ? 'spa-signin' : undefined
  const username = 'alice'
  const password = randomUUID()
  const dataDir = await mkdtemp(join(tmpdir(), 'freshtoken-dot-'))
  const child = spawn(DOT_PYTHON, ['-B', 'serve.py'], {
    cwd: projectDir,
    // Nothing of this process's environment: a PYTHONPATH meant for another Python must not
    // shadow Debian's packages.
    env: {
      PATH: '/usr/bin:/bin',
      LANG: 'C.UTF-8',
      PYTHONNOUSERSITE: '1',
      DOT_FIXTURE_DB: join(dataDir, 'db.sqlite3'),
      DOT_FIXTURE_ACCESS_TOKEN_SECONDS: String(accessTokenLifetime),
      DOT_FIXTURE_ALLOWED_ORIGINS: (options.allowedOrigins ?? []).join(' '),
      DOT_FIXTURE_STATIC_DIR: options.staticDir ?? '',
      DOT_FIXTURE_CLIENT_ID: clientId,
      DOT_FIXTURE_USERNAME: username,
      DOT_FIXTURE_PASSWORD: password,
      DOT_FIXTURE_REDIRECT_URIS: signInRedirectUris.join(' '),
      DOT_FIXTURE_SIGN_IN_CLIENT_ID: signInClientId ?? '',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => {
    // The end is what explains a failure; keep the last few kB.
    stderr = (stderr + chunk.toString('utf8')).slice(-8_000)
  })

  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= (async () => {
      const gone = exited(child)
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT)
      await gone
      clearTimeout(timer)
      await rm(dataDir, { recursive: true, force: true })
    })())

  try {
    const { port, sub } = await readyLine(child, () => stderr)
    const url = `http://127.0.0.1:${port}`
    const server: DjangoOAuthToolkit = {
      url,
      tokenEndpoint: `${url}/token`,
      revocationEndpoint: `${url}/revoke`,
      apiUrl: `${url}/api`,
      clientId,
      issuer: `${url}/o`,
      authorizationEndpoint: `${url}/o/authorize/`,
      oauthTokenEndpoint: `${url}/o/token/`,
      oauthRevocationEndpoint: `${url}/o/revoke_token/`,
      signInClientId,
      user: { username, password, sub },
      accessTokenLifetime,
      async login() {
        const response = await postForm(`${url}/token`, {
          grant_type: 'password',
          client_id: clientId,
          username,
          password,
          scope: 'api',
        })
        return readTokenResponse(response)
      },
      stats: () => getJson<DjangoOAuthToolkitStats>(`${url}/fixture/stats`),
      async waitForStats(done, timeout) {
        const deadline = Date.now() + timeout
        for (;;) {
          const stats = await server.stats()
          if (done(stats)) return stats
          if (Date.now() > deadline) {
            throw new Error(
              `DOT's counters did not get there in ${timeout} ms: ${JSON.stringify(stats)}`,
            )
          }
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      },
      async resetStats() {
        const response = await postForm(`${url}/fixture/stats/reset`, {})
        if (response.status !== 200) throw new Error(`resetting the counters: ${response.status}`)
      },
      close,
    }
    // Listening since the port was printed; this proves Django answers too.
    await server.stats()
    return server
  } catch (error) {
    await close()
    throw error
  }
}
