import { execFileSync } from 'node:child_process'
import { distIsFresh, root } from '../bench/dist-freshness.mjs'

/**
 * Builds `dist/` once before any test file runs, when it is older than the sources: the package
 * and end-to-end tests load the built package, as an app would, and parallel test files must not
 * each rebuild it.
 */
export default function buildOnce(): void {
  if (distIsFresh()) return
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
}
