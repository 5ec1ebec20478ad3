import { expect } from 'vitest'
import type { NodeOAuthCounters } from '../servers/node-oauth-server.js'
import type { BusyTabReport, TestTab } from './test-app.js'

/**
 * Asserts what busy tabs of one healthy session show, in the pages and at the server: every call
 * answered 200, none met a 401, nothing failed; the server saw no reused refresh token, no
 * `invalid_grant` and no 401; no page or console errors. `report` is printed on failure.
 */
export function expectHealthySession(
  reports: readonly BusyTabReport[],
  counters: Readonly<NodeOAuthCounters>,
  tabs: readonly TestTab[],
  report: string,
): void {
  for (const { statuses, responses, failures } of reports) {
    expect(Object.keys(statuses), report).toEqual(['200'])
    expect(responses.api401s, report).toBe(0)
    expect(failures, report).toEqual([])
  }
  expect(counters, report).toMatchObject({ reuseDetections: 0, invalidGrants: 0, api401s: 0 })
  for (const tab of tabs) expect(tab.problems, report).toEqual([])
}

/** Asserts `renewals` is what the schedule allows, give or take one at the edges of the run. */
export function expectOnSchedule(
  renewals: number,
  schedule: { readonly min: number; readonly max: number },
  report: string,
): void {
  expect(renewals, report).toBeGreaterThanOrEqual(schedule.min - 1)
  expect(renewals, report).toBeLessThanOrEqual(schedule.max + 1)
}
