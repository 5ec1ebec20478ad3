/**
 * The script of an end-to-end test page: `app.js` of a page directory bundled with the built
 * package (one file: the chunks the SDK imports on demand come along inline), so the page loads
 * exactly what an app that installed freshtoken gets.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import { rollup } from 'rollup'

const builtPackage = fileURLToPath(new URL('../../dist/index.js', import.meta.url))

/** The bundles made in this process, by page directory. */
const bundles = new Map<string, Promise<string>>()

/**
 * Bundles `app.js` of `appSource` once per process; a failed bundle is tried again by the next
 * call. A rollup warning is an error: the page would not be what the test thinks.
 *
 * @param appSource - the page's directory
 * @param what - names the page in errors
 */
export function bundlePage(appSource: string, what: string): Promise<string> {
  let bundled = bundles.get(appSource)
  if (bundled === undefined) {
    bundled = (async () => {
      const bundle = await rollup({
        input: join(appSource, 'app.js'),
        plugins: [
          {
            name: 'built-freshtoken',
            resolveId: (id) => (id === 'freshtoken' ? builtPackage : null),
          },
          nodeResolve({ browser: true }),
        ],
        onwarn(warning) {
          throw new Error(`bundling ${what}: ${warning.message}`)
        },
      })
      try {
        const { output } = await bundle.generate({ format: 'es', inlineDynamicImports: true })
        return output[0].code
      } finally {
        await bundle.close()
      }
    })()
    bundles.set(appSource, bundled)
    bundled.catch(() => bundles.delete(appSource))
  }
  return bundled
}
