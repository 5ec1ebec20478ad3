// Bundles tsc's output (build/) into the published files (dist/).
//
// `npm run build` runs tsc twice first: declarations with their TSDoc into build/types/, and JS
// without comments into build/js/ (the TSDoc lives in the .d.ts; shipping it twice would only
// grow the bundle). TypeScript 7's tsc is native and has no JavaScript API, so
// rollup bundles what tsc emitted instead of compiling TypeScript itself.
import { dts } from 'rollup-plugin-dts'

const input = {
  index: 'index',
  testing: 'testing/index',
}

/** Runtime dependencies and the optional msw peer stay imports; only our own code is bundled. */
const external = (id) => /^(ky|jwt-decode|msw)(\/|$)/.test(id)

/** @param {string} dir @param {string} ext */
const inputs = (dir, ext) =>
  Object.fromEntries(Object.entries(input).map(([name, path]) => [name, `${dir}/${path}${ext}`]))

/** @type {import('rollup').RollupOptions[]} */
export default [
  {
    input: inputs('build/js', '.js'),
    external,
    output: {
      dir: 'dist',
      format: 'es',
      // Code shared by both entries (errors, token-set, …) lands in one chunk, so
      // `freshtoken/testing` and `freshtoken` share classes and `instanceof` holds across them.
      chunkFileNames: 'shared-[hash].js',
      generatedCode: 'es2015',
    },
    treeshake: { moduleSideEffects: false },
  },
  {
    input: inputs('build/types', '.d.ts'),
    external,
    output: { dir: 'dist', format: 'es', chunkFileNames: 'shared-[hash].d.ts' },
    plugins: [dts()],
  },
]
