/** Types of dist-chunks.mjs, for the fault scenarios. */

/** A chunk the package loads on demand. */
export interface LazyChunk {
  /** The chunk's name without rollup's hash, such as `token-server`. */
  readonly name: string
  /** Its absolute path. */
  readonly file: string
  /** The name of the module whose `import()` loads it: `index`, or another chunk's name. */
  readonly importedBy: string
}
/** `entry` (relative to the root) and the local files it imports statically, as absolute paths. */
export declare function staticGraph(entry: string): string[]
/** The chunks `entry` (default `dist/index.js`) loads on demand, transitively. */
export declare function lazyChunks(entry?: string): LazyChunk[]
