// @vitest-environment node
/**
 * Proves the published package works as an app would use it: packs the real tarball, installs it
 * into an app folder outside the repo, imports `freshtoken` and `freshtoken/testing` in a plain
 * `node` process, and type-checks a consumer against the packed declarations.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { distIsFresh, ENTRIES, root } from '../../bench/dist-freshness.mjs'

interface PackResult {
  filename: string
  files: { path: string }[]
}

let work: string
let app: string
let packed: PackResult

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

/**
 * Installs the tarball as npm would lay it out (node_modules/freshtoken), and links only the
 * dependencies the packed package.json declares to the repo's installed copies. Nothing is fetched,
 * and an import of an undeclared package fails here as it would in an app.
 */
function installTarball(tarball: string): void {
  const target = join(app, 'node_modules', 'freshtoken')
  mkdirSync(target, { recursive: true })
  run('tar', ['-xzf', tarball, '-C', target, '--strip-components=1'], app)
  const manifest = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8'))
  const needed = [
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ]
  for (const name of needed) {
    const link = join(app, 'node_modules', name)
    mkdirSync(dirname(link), { recursive: true })
    symlinkSync(join(root, 'node_modules', name), link, 'dir')
  }
}

beforeAll(() => {
  if (!distIsFresh()) run('npm', ['run', 'build'], root)
  work = mkdtempSync(join(tmpdir(), 'freshtoken-package-'))
  const [result] = JSON.parse(
    run('npm', ['pack', '--json', '--pack-destination', work, '--ignore-scripts'], root),
  ) as PackResult[]
  if (!result) throw new Error('npm pack printed no result')
  packed = result
  app = join(work, 'app')
  mkdirSync(app)
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }, null, 2),
  )
  installTarball(join(work, packed.filename))
}, 180_000)

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('the published package', () => {
  it('contains only dist/, package.json, README and LICENSE', () => {
    const paths = packed.files.map((file) => file.path).sort()
    for (const path of paths) {
      expect(path).toMatch(/^(package\.json|README\.md|LICENSE(\.md)?|dist\/[\w.-]+\.(js|d\.ts))$/)
    }
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', ...ENTRIES]))
  })

  it('points at no source map and no file that is not in the tarball', () => {
    const shipped = new Set(packed.files.map((file) => file.path))
    for (const path of shipped) {
      if (!path.startsWith('dist/')) continue
      const text = readFileSync(join(app, 'node_modules', 'freshtoken', path), 'utf8')
      expect(text, path).not.toMatch(/sourceMappingURL/)
      for (const [, relative] of text.matchAll(/from '(\.\/[^']+)'/g)) {
        const file = join(dirname(path), relative as string)
        // A declaration file imports its sibling chunk as './x.js' and TypeScript reads './x.d.ts'.
        const target = path.endsWith('.d.ts') ? file.replace(/\.js$/, '.d.ts') : file
        expect(shipped.has(target), `${path} imports ${relative}`).toBe(true)
      }
    }
  })

  it('keeps the TSDoc in the bundled declarations', () => {
    const types = readFileSync(join(app, 'node_modules', 'freshtoken', 'dist/index.d.ts'), 'utf8')
    expect(types).toMatch(
      /\/\*\*(?:(?!\*\/)[\s\S])*@example[\s\S]*?\*\/\s*declare function createTokenClient/,
    )
    const testing = readFileSync(
      join(app, 'node_modules', 'freshtoken', 'dist/testing.d.ts'),
      'utf8',
    )
    expect(testing).toMatch(/\/\*\*[\s\S]*?\*\/\s*declare function createMockTokenServer/)
  })

  it('keeps ky and jwt-decode as dependencies and msw as an optional peer', () => {
    const manifest = JSON.parse(
      readFileSync(join(app, 'node_modules', 'freshtoken', 'package.json'), 'utf8'),
    )
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['jwt-decode', 'ky'])
    expect(manifest.peerDependencies).toHaveProperty('msw')
    expect(manifest.peerDependenciesMeta?.msw?.optional).toBe(true)
  })

  it('signs an app in, attaches the token, rotates it on refresh and ends the session, in plain node', () => {
    writeFileSync(join(app, 'smoke.mjs'), readFileSync(join(root, 'test/package/smoke.mjs')))
    const output = run(process.execPath, ['smoke.mjs'], app)
    const report = JSON.parse(output.trim().split('\n').at(-1) as string)
    expect(report).toEqual({
      meStatus: 200,
      meAfterStatus: 200,
      apiTokenStates: ['active', 'active'],
      firstAuthorizationIsIssued: true,
      secondAuthorizationIsRefreshed: true,
      rotated: true,
      tokenCalls: 1,
      failureIsAuthError: true,
      failureCode: 'session_expired',
      plainErrorIsAuthError: false,
    })
  })

  it.each(['nodenext', 'bundler'] as const)(
    'type-checks a consumer against the packed declarations (moduleResolution %s)',
    (resolution) => {
      writeFileSync(join(app, 'consumer.ts'), CONSUMER)
      writeFileSync(
        join(app, `tsconfig.${resolution}.json`),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: resolution === 'nodenext' ? 'nodenext' : 'esnext',
            moduleResolution: resolution,
            lib: ['ES2022', 'DOM', 'DOM.Iterable'],
            types: [],
            strict: true,
            exactOptionalPropertyTypes: true,
            skipLibCheck: false,
            noEmit: true,
          },
          files: ['consumer.ts'],
        }),
      )
      const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
      try {
        run(process.execPath, [tsc, '-p', `tsconfig.${resolution}.json`], app)
      } catch (error) {
        const { stdout, stderr } = error as { stdout?: string; stderr?: string }
        throw new Error(`tsc failed:\n${stdout ?? ''}${stderr ?? ''}`)
      }
    },
  )
})

/** What an app writes: every public entry point it needs, with the types it would annotate. */
const CONSUMER = `
import { createTokenClient, isAuthError, LoginError } from 'freshtoken'
import type {
  AuthErrorCode,
  BackendOptions,
  IdTokenClaims,
  LoginOptions,
  LoginResult,
  TokenClient,
  TokenClientOptions,
  TokenResponse,
  TokenSet,
} from 'freshtoken'
import { createMockTokenServer } from 'freshtoken/testing'
import type { MockTokenServer, MockTokenServerOptions } from 'freshtoken/testing'

const mockOptions: MockTokenServerOptions = { accessTokenLifetime: 60_000 }
const mock: MockTokenServer = createMockTokenServer(mockOptions)
const options: TokenClientOptions = {
  clientId: 'spa',
  tokenEndpoint: mock.endpoints.token,
  apiOrigins: [mock.endpoints.api],
}
const auth: TokenClient = createTokenClient(options)
const issued: TokenResponse = mock.issueTokens()
auth.setTokens(issued)

// @ts-expect-error: scope is a string; proves the types are real, not \`any\`
createTokenClient({ clientId: 'spa', tokenEndpoint: mock.endpoints.token, scope: 5 })

const backend: BackendOptions = {
  refresh: '/auth/refresh',
  headers: { 'X-CSRF': '1' },
  response: (body) => ({ access_token: String((body as { accessToken: unknown }).accessToken) }),
}
const viaBackend: TokenClient = createTokenClient({ backend, sessionEndingNotice: 30_000 })
const loginOptions: LoginOptions = { scope: 'openid', prompt: 'none', state: { to: '/' } }
export async function signIn(): Promise<string | undefined> {
  const result: LoginResult | null = await viaBackend.handleRedirect()
  const claims: IdTokenClaims | null = viaBackend.idTokenClaims
  viaBackend.on('session-ending', ({ endsAt }: { endsAt: number }) => endsAt)
  await viaBackend.login(loginOptions).catch((error: unknown) =>
    error instanceof LoginError ? error.error : undefined,
  )
  await viaBackend.logout({ endSession: true, postLogoutRedirectUri: '/' })
  return result?.tokens.refreshExpiresAt === undefined ? claims?.sub : undefined
}

export async function main(): Promise<AuthErrorCode | string | undefined> {
  const response: Response = await auth.fetch(\`\${mock.endpoints.api}/me\`, { method: 'GET' })
  const renewed: TokenSet = await auth.refresh()
  const current: TokenSet | null = auth.tokens
  const calls: number = mock.counters.token
  try {
    await auth.fetch(new Request(\`\${mock.endpoints.api}/me\`))
  } catch (error) {
    if (isAuthError(error)) return error.code
  }
  auth.dispose()
  return response.ok && calls > 0 ? (current ?? renewed).accessToken : undefined
}
`
