/** Types of build.mjs, for test/e2e/demo.test.ts. */

/** Where the built demo goes (git-ignored). */
export declare const DEMO_OUT_DIR: string
/**
 * Builds the demo into {@link DEMO_OUT_DIR}. Needs dist/ (`npm run build`).
 *
 * @returns the output folder
 * @throws {Error} when dist/ has not been built
 */
export declare function buildDemo(): Promise<string>
