// Whether dist/ is up to date with the sources: shared by bench/run.mjs (which rebuilds before
// measuring) and test/package/package.test.ts (which rebuilds before packing).
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root. */
export const root = fileURLToPath(new URL('..', import.meta.url))
/** The published entry points, relative to the root. */
export const ENTRIES = ['dist/index.js', 'dist/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts']
/** What `npm run build` reads, relative to the root. */
export const BUILD_INPUTS = [
  'src',
  'package.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'rollup.config.mjs',
]

function newestMtime(path) {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(0, ...readdirSync(path).map((name) => newestMtime(join(path, name))))
}

/** dist/ is fresh when every entry exists and none is older than any build input. */
export function distIsFresh() {
  try {
    const built = Math.min(...ENTRIES.map((file) => statSync(join(root, file)).mtimeMs))
    return built >= Math.max(...BUILD_INPUTS.map((input) => newestMtime(join(root, input))))
  } catch {
    return false
  }
}
