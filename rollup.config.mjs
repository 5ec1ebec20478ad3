// Bundles tsc's output (build/) into the published files (dist/).
//
// `npm run build` runs tsc twice first: declarations with their TSDoc into build/types/, and JS
// without comments into build/js/ (the TSDoc lives in the .d.ts; shipping it twice would only
// grow the bundle). TypeScript 7's tsc is native and has no JavaScript API, so
// rollup bundles what tsc emitted instead of compiling TypeScript itself.
import terser from '@rollup/plugin-terser'
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
      // Chunks: discovery (loaded on demand by apps that configure `issuer`) and any code both
      // entries share, so `instanceof` holds across `freshtoken` and `freshtoken/testing`.
      chunkFileNames: '[name]-[hash].js',
      // A lazy chunk must not pull ky or jwt-decode in again as bare side-effect imports.
      hoistTransitiveImports: false,
      generatedCode: 'es2015',
    },
    treeshake: { moduleSideEffects: false },
    // Minified like the SDKs it is compared with; the readable source and TSDoc ship in the .d.ts
    // and the repository. Error classes set their `name` explicitly, so mangling is safe. The
    // `unsafe` options only assume what the code already does: no function expression relies on
    // `this` or `arguments` (unsafe_arrows), and every template literal interpolates strings, so
    // `"Bearer " + token` is the same string (unsafe).
    plugins: [
      terser({
        ecma: 2022,
        module: true,
        compress: { passes: 4, inline: 1, keep_fargs: false, unsafe_arrows: true, unsafe: true },
      }),
    ],
  },
  // One self-contained .d.ts per entry (types both use, such as TokenResponse, appear in each),
  // so neither entry's declarations depend on a hashed chunk.
  ...Object.entries(input).map(([name, path]) => ({
    input: `build/types/${path}.d.ts`,
    external,
    output: { file: `dist/${name}.d.ts`, format: 'es' },
    plugins: [dts()],
  })),
]
