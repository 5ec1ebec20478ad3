import type {
  AccessRecord,
  CodeGrant,
  CodeRecord,
  Family,
  RefreshRecord,
  TokenTables,
} from './token-store.js'

/**
 * Where a mock token server keeps its token database so that several mocks share it: the part of
 * the Web Storage interface the mock uses. `localStorage` fits as it is, which lets every tab of a
 * page running the mock behind `msw/browser` act as one server.
 *
 * The state is JSON (and contains token values: use it for mocks only). It is read with `getItem`
 * before every token operation and written with `setItem` after every operation that may change
 * it; both must be synchronous.
 *
 * @see https://html.spec.whatwg.org/multipage/webstorage.html#the-storage-interface
 */
export interface MockStateStorage {
  /** Returns the value stored under `key`, or `null` when there is none. */
  getItem(key: string): string | null
  /** Stores `value` under `key`, replacing what was there. */
  setItem(key: string, value: string): void
}

/** Version of the serialised state; anything else is ignored as foreign. */
const VERSION = 2

interface FamilyJSON {
  readonly label: string
  readonly clientId: string
  readonly subject: string
  readonly scope: string
  readonly expiresAt: number | null
  readonly jkt: string | null
  readonly resources: readonly string[] | null
  readonly revoked: boolean
}

interface CodeJSON extends CodeGrant {
  readonly expiresAt: number
  readonly family: string | null
}

interface RefreshJSON {
  readonly family: string
  readonly expiresAt: number
  readonly rotatedAt: number | null
  readonly revoked: boolean
}

interface AccessJSON {
  readonly family: string
  readonly scope: string
  readonly jkt: string | null
  readonly resource: string | null
  readonly expiresAt: number
  readonly revoked: boolean
}

/** The serialised tables: families once, tokens referring to them by label. */
interface StateJSON {
  readonly version: typeof VERSION
  readonly familyCount: number
  readonly families: readonly FamilyJSON[]
  readonly refreshTokens: readonly (readonly [string, RefreshJSON])[]
  readonly accessTokens: readonly (readonly [string, AccessJSON])[]
  readonly codes: readonly (readonly [string, CodeJSON])[]
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function isEntry(value: unknown): value is readonly [string, Record<string, unknown>] {
  return Array.isArray(value) && typeof value[0] === 'string' && isRecord(value[1])
}

function readState(storage: MockStateStorage, key: string): StateJSON | null {
  const text = storage.getItem(key)
  if (text === null) return null
  let state: unknown
  try {
    state = JSON.parse(text)
  } catch {
    return null
  }
  if (
    !isRecord(state) ||
    state.version !== VERSION ||
    typeof state.familyCount !== 'number' ||
    !Array.isArray(state.families) ||
    !Array.isArray(state.refreshTokens) ||
    !Array.isArray(state.accessTokens) ||
    !Array.isArray(state.codes)
  ) {
    return null
  }
  return state as unknown as StateJSON
}

/**
 * Replaces the tables' contents with the state in `storage`; empties them when there is none, or
 * when what is stored is not a state this version wrote (corrupt, foreign, older).
 *
 * @param storage - where the state is shared
 * @param key - the storage key
 * @param tables - the tables to fill, in place
 */
export function restoreTables(storage: MockStateStorage, key: string, tables: TokenTables): void {
  tables.refreshTokens.clear()
  tables.accessTokens.clear()
  tables.codes.clear()
  tables.familyCount = 0
  const state = readState(storage, key)
  if (state === null) return
  const families = new Map<string, Family>()
  for (const family of state.families) {
    if (isRecord(family) && typeof family.label === 'string') {
      // DPoP and resource members came later within version 2: absent means unbound, any resource.
      const { jkt = null, resources = null } = family as Partial<FamilyJSON>
      families.set(family.label, { ...(family as unknown as Family), jkt, resources })
    }
  }
  for (const entry of state.refreshTokens) {
    const family = isEntry(entry) ? families.get(entry[1].family as string) : undefined
    if (family === undefined) continue
    const [token, record] = entry as readonly [string, RefreshJSON]
    tables.refreshTokens.set(token, { ...record, family } satisfies RefreshRecord)
  }
  for (const entry of state.accessTokens) {
    const family = isEntry(entry) ? families.get(entry[1].family as string) : undefined
    if (family === undefined) continue
    const [token, record] = entry as readonly [string, AccessJSON]
    const { jkt = null, resource = null } = record as Partial<AccessJSON>
    tables.accessTokens.set(token, { ...record, jkt, resource, family } satisfies AccessRecord)
  }
  for (const entry of state.codes) {
    if (!isEntry(entry)) continue
    const [code, record] = entry as readonly [string, CodeJSON]
    const family = record.family === null ? null : families.get(record.family)
    if (family === undefined) continue
    const { resources = [], dpopJkt = null } = record as Partial<CodeJSON>
    tables.codes.set(code, { ...record, resources, dpopJkt, family } satisfies CodeRecord)
  }
  tables.familyCount = state.familyCount
}

/**
 * Writes the tables to `storage` as JSON.
 *
 * @param storage - where the state is shared
 * @param key - the storage key
 * @param tables - the tables to save
 */
export function saveTables(storage: MockStateStorage, key: string, tables: TokenTables): void {
  const families = new Set<Family>()
  for (const record of tables.refreshTokens.values()) families.add(record.family)
  for (const record of tables.accessTokens.values()) families.add(record.family)
  for (const record of tables.codes.values()) if (record.family) families.add(record.family)
  const state: StateJSON = {
    version: VERSION,
    familyCount: tables.familyCount,
    families: [...families].map(
      ({ label, clientId, subject, scope, expiresAt, jkt, resources, revoked }) => ({
        label,
        clientId,
        subject,
        scope,
        expiresAt,
        jkt,
        resources,
        revoked,
      }),
    ),
    refreshTokens: [...tables.refreshTokens].map(([token, record]) => [
      token,
      {
        family: record.family.label,
        expiresAt: record.expiresAt,
        rotatedAt: record.rotatedAt,
        revoked: record.revoked,
      },
    ]),
    accessTokens: [...tables.accessTokens].map(([token, record]) => [
      token,
      {
        family: record.family.label,
        scope: record.scope,
        jkt: record.jkt,
        resource: record.resource,
        expiresAt: record.expiresAt,
        revoked: record.revoked,
      },
    ]),
    codes: [...tables.codes].map(([code, record]) => [
      code,
      { ...record, family: record.family?.label ?? null },
    ]),
  }
  storage.setItem(key, JSON.stringify(state))
}
