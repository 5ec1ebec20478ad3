// The built package's files as a page loads them: the main entry with the chunks it imports
// statically, and the chunks loaded on demand. Shared by bench/run.mjs (sizes) and the fault
// scenarios (which load every chunk before they fake time).
import { readFileSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { root } from './dist-freshness.mjs'

const STATIC_IMPORT = /(?:^|[;\n}])\s*(?:import|export)[^"'(]*?from\s*["'](\.[^"']+)["']/g
const DYNAMIC_IMPORT = /\bimport\(\s*["'](\.[^"']+)["']\s*\)/g

/** `entry` (relative to the root) and the local files it imports statically, as absolute paths. */
export function staticGraph(entry) {
  const seen = new Set()
  const visit = (file) => {
    if (seen.has(file)) return
    seen.add(file)
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(STATIC_IMPORT)) {
      visit(join(dirname(file), specifier))
    }
  }
  visit(join(root, entry))
  return [...seen]
}

/** A chunk's name: its file name without rollup's `-<hash>.js` (`index` for `index.js`). */
const chunkName = (file) => basename(file, '.js').replace(/-[\w-]{8}$/, '')

/**
 * The chunks `entry` loads on demand: every `import("./…js")` in it, and in those chunks in turn
 * (the token-server chunk loads discovery), with any chunk they import statically. Rollup names a
 * chunk `<name>-<hash>.js`.
 */
export function lazyChunks(entry = 'dist/index.js') {
  const chunks = []
  const seen = new Set(staticGraph(entry))
  const visit = (file) => {
    const code = readFileSync(file, 'utf8')
    const specifiers = [...code.matchAll(DYNAMIC_IMPORT), ...code.matchAll(STATIC_IMPORT)]
    for (const [, specifier] of specifiers) {
      const path = join(dirname(file), specifier)
      if (seen.has(path)) continue
      seen.add(path)
      chunks.push({ name: chunkName(path), file: path, importedBy: chunkName(file) })
      visit(path)
    }
  }
  for (const file of [...seen]) visit(file)
  return chunks
}
