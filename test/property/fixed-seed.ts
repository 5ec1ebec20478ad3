/**
 * Setup file of the mutation run (test/vitest.mutate.config.ts): one fixed fast-check seed, so a
 * property test kills or spares a mutant the same way in the dry run, in every mutant run and in
 * the next incremental run. `FC_SEED=<n> npm run mutate` tries another. Plain test runs keep a
 * fresh seed each time, printed when a property fails.
 */
import fc from 'fast-check'

fc.configureGlobal({ seed: Number(process.env.FC_SEED ?? 20_300_101) })
