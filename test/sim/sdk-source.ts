/**
 * Where the simulated SDK's sources are: `SIM_SDK/src` when `SIM_SDK` names a directory (relative
 * to the repository), else the repository's `src`. Read by the simulator's vitest configuration
 * and its setup file.
 */
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

/** The absolute path of the SDK's `src` directory, without a trailing slash. */
export function sdkSource(): string {
  const dir = process.env.SIM_SDK
  if (!dir) return `${root}src`
  return `${dir.startsWith('/') ? dir : `${root}${dir}`}/src`.replace(/\/+$/, '')
}
