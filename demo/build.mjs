// Builds the demo page into demo/dist/: the app bundled with rollup against the BUILT package
// (dist/, as an app installing freshtoken would get it), the page, its CSS, and msw's service
// worker. `node demo/build.mjs` builds; demo/serve.mjs builds and serves.
import { copyFile, mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import nodeResolve from '@rollup/plugin-node-resolve'
import { rollup } from 'rollup'

/** The repository root. */
const root = fileURLToPath(new URL('..', import.meta.url))
/** The demo's sources. */
const demoDir = join(root, 'demo')
/** Where the built demo goes (git-ignored). */
export const DEMO_OUT_DIR = join(demoDir, 'dist')

/**
 * Resolves `freshtoken` and `freshtoken/testing` through the package's own `exports` map to the
 * built files in dist/, as Node resolves them for an app that installed the package.
 *
 * @returns {import('rollup').Plugin} the plugin
 */
function builtPackage() {
  return {
    name: 'freshtoken-built-package',
    async resolveId(source) {
      if (source !== 'freshtoken' && !source.startsWith('freshtoken/')) return null
      const { exports } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'))
      const entry = exports[source === 'freshtoken' ? '.' : `./${source.slice(11)}`]
      if (entry === undefined) return null
      return join(root, entry.default)
    },
  }
}

/**
 * Builds the demo into {@link DEMO_OUT_DIR}. Needs dist/ (`npm run build`).
 *
 * @returns {Promise<string>} the output folder
 * @throws {Error} when dist/ has not been built
 */
export async function buildDemo() {
  try {
    await readFile(join(root, 'dist', 'index.js'))
  } catch {
    throw new Error('dist/ is missing: run `npm run build` first')
  }
  await rm(DEMO_OUT_DIR, { recursive: true, force: true })
  const bundle = await rollup({
    input: join(demoDir, 'src', 'main.js'),
    plugins: [builtPackage(), nodeResolve({ browser: true, exportConditions: ['browser'] })],
    onwarn(warning, warn) {
      // msw's bundles keep their own `this` at top level in a few helpers; harmless in a module.
      if (warning.code === 'THIS_IS_UNDEFINED') return
      warn(warning)
    },
  })
  try {
    await bundle.write({ dir: DEMO_OUT_DIR, format: 'es', sourcemap: true })
  } finally {
    await bundle.close()
  }
  await mkdir(DEMO_OUT_DIR, { recursive: true })
  await Promise.all([
    copyFile(join(demoDir, 'index.html'), join(DEMO_OUT_DIR, 'index.html')),
    copyFile(join(demoDir, 'style.css'), join(DEMO_OUT_DIR, 'style.css')),
    // The worker must sit at the site's root so its scope covers the page (msw's default URL).
    copyFile(
      join(root, 'node_modules', 'msw', 'lib', 'mockServiceWorker.js'),
      join(DEMO_OUT_DIR, 'mockServiceWorker.js'),
    ),
  ])
  return DEMO_OUT_DIR
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildDemo()
  console.log(`demo built into ${out}`)
}
