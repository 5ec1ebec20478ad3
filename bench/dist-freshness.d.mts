/** Types of dist-freshness.mjs, for test/package/package.test.ts. */

/** The repository root. */
export declare const root: string
/** The published entry points, relative to the root. */
export declare const ENTRIES: readonly string[]
/** What `npm run build` reads, relative to the root. */
export declare const BUILD_INPUTS: readonly string[]
/** dist/ is fresh when every entry exists and none is older than any build input. */
export declare function distIsFresh(): boolean
