import type { TokenResponse } from '../token-set.js'
import type { ResolvedMockOptions } from './options.js'
import { type MockStateStorage, restoreTables, saveTables } from './state-storage.js'
import { encodeUnsecuredJWT, randomTokenValue } from './token-values.js'

/**
 * Where a token stands on the mock server.
 *
 * - `active`: accepted.
 * - `expired`: past its lifetime (or expired by {@link MockTokenServer.expireAccessTokens}).
 * - `revoked`: revoked by RFC 7009, by reuse detection, or by a control method.
 * - `rotated`: a refresh token retired by rotation (still accepted inside the reuse interval).
 * - `unknown`: never issued by this server (or forgotten by `reset()`).
 */
export type MockTokenState = 'active' | 'expired' | 'revoked' | 'rotated' | 'unknown'

/**
 * What the mock server knows about a token: an inspection aid for tests, shaped after RFC 7662
 * introspection. Never contains a token value.
 *
 * @see https://www.rfc-editor.org/rfc/rfc7662#section-2.2
 */
export interface MockTokenIntrospection {
  /** Whether the server would accept the token right now. */
  readonly active: boolean
  /** Why it is (in)active. */
  readonly state: MockTokenState
  /** What kind of token it is, `null` when unknown. */
  readonly type: 'access_token' | 'refresh_token' | null
  /**
   * The session (refresh token family) it belongs to, a label such as `family-1`: every token
   * minted by one `issueTokens()` call and the refreshes that follow shares it.
   */
  readonly family: string | null
  /** Its scope (space-separated), `null` when unknown. */
  readonly scope: string | null
  /** When it expires, epoch ms on `Date.now()`'s clock, `null` when unknown. */
  readonly expiresAt: number | null
  /**
   * The JWK SHA-256 thumbprint of the DPoP key the token is bound to (its `cnf.jkt`, RFC 9449
   * §6.1), `null` for a bearer token or when unknown. A refresh token is bound when its session
   * started with a proof (a code exchange with one, or `issueTokens({ jkt })`).
   */
  readonly jkt: string | null
  /**
   * The resource indicator an access token was issued for (its audience, RFC 8707 §2), `null` for
   * a default token, a refresh token, or when unknown.
   */
  readonly resource: string | null
}

/** Parameters of a refresh grant as the token endpoint received them (RFC 6749 §6). */
export interface RefreshRequest {
  readonly refreshToken: string
  readonly clientId: string
  readonly scope: string | null
  /** Thumbprint of the request's valid DPoP proof (RFC 9449 §5), `null` or absent without one. */
  readonly jkt?: string | null
  /** The `resource` asked for (RFC 8707 §2), already known to be a known one; `null` for none. */
  readonly resource?: string | null
}

/** The server's decision on a refresh grant. */
export type RefreshOutcome =
  | { readonly ok: true; readonly body: TokenResponse; readonly family: string }
  | {
      readonly ok: false
      readonly error: 'invalid_grant' | 'invalid_scope' | 'invalid_target'
      readonly description: string
      readonly family: string | null
      /** True when the request was a reuse of a rotated refresh token and the family was revoked. */
      readonly reuseDetected: boolean
    }

/** What an approved authorization request binds its code to (RFC 6749 §4.1.2, RFC 7636 §4.4). */
export interface CodeGrant {
  readonly clientId: string
  readonly redirectUri: string
  /** The `S256` code challenge (RFC 7636 §4.2). */
  readonly codeChallenge: string
  readonly scope: string
  readonly subject: string
  /** The OpenID Connect `nonce` of the request, `null` when it had none. */
  readonly nonce: string | null
  /** When the user authenticated, epoch ms on `Date.now()`'s clock. */
  readonly authTime: number
  /** The `resource` parameters of the request (RFC 8707 §2); empty when it named none. */
  readonly resources: readonly string[]
  /** The request's `dpop_jkt` (RFC 9449 §10), `null` when it had none or DPoP is off. */
  readonly dpopJkt: string | null
}

/** Parameters of an authorization code grant as the token endpoint received them (RFC 6749 §4.1.3). */
export interface CodeRedemption {
  readonly code: string
  readonly redirectUri: string
  /**
   * BASE64URL(SHA-256(`code_verifier`)), to compare with the code challenge (RFC 7636 §4.6);
   * `null` when the verifier was missing or not 43 to 128 unreserved characters (§4.1).
   */
  readonly verifierChallenge: string | null
  /** Thumbprint of the request's valid DPoP proof (RFC 9449 §5), `null` without one. */
  readonly jkt: string | null
  /** The `resource` asked for, already known to be a known one; `null` for none. */
  readonly resource: string | null
}

/** The server's decision on an authorization code grant. */
export type CodeOutcome =
  | {
      readonly ok: true
      readonly body: TokenResponse
      readonly family: string
      readonly grant: CodeGrant
    }
  | {
      readonly ok: false
      readonly error: 'invalid_grant' | 'invalid_target'
      readonly description: string
      /** The family issued from the code, when it had been redeemed before. */
      readonly family: string | null
      /** True when the code had been redeemed before and its tokens were revoked. */
      readonly reuseDetected: boolean
    }

/** Options of {@link TokenStore.issue}. */
export interface IssueOptions {
  readonly scope?: string
  readonly subject?: string
  /** Whether the session gets a refresh token. @default true */
  readonly refreshToken?: boolean
  /** The DPoP key thumbprint the session's tokens are bound to; `null` for bearer tokens. */
  readonly jkt?: string | null
  /** The resources later refreshes may ask for; `null` for any known one. */
  readonly resources?: readonly string[] | null
}

/** The server's view of an access token presented to the API (RFC 6750 §3.1). */
export type AccessCheck =
  | {
      readonly state: 'active'
      readonly family: string
      readonly scope: string
      readonly subject: string
      readonly clientId: string
      /** The DPoP key thumbprint the token is bound to, `null` for a bearer token. */
      readonly jkt: string | null
      /** The resource it was issued for, `null` for a default token. */
      readonly resource: string | null
    }
  | { readonly state: 'expired' | 'revoked'; readonly family: string }
  | { readonly state: 'unknown'; readonly family: null }

/** The result of an RFC 7009 revocation request. */
export interface RevocationOutcome {
  /** What the token turned out to be, `null` when the server did not know it. */
  readonly type: 'access_token' | 'refresh_token' | null
  readonly family: string | null
}

/** The mock's token database. Not part of the public surface. */
export interface TokenStore {
  issue(options: IssueOptions): TokenResponse
  refresh(request: RefreshRequest): RefreshOutcome
  /** Stores an authorization code for `grant`, redeemable once within its lifetime. */
  createCode(grant: CodeGrant): string
  redeemCode(request: CodeRedemption): CodeOutcome
  revoke(token: string): RevocationOutcome
  checkAccess(token: string): AccessCheck
  introspect(token: string): MockTokenIntrospection
  expireAccessTokens(): void
  revokeRefreshTokens(): void
  reset(): void
}

/** A session: one refresh token family. Not part of the public surface. */
export interface Family {
  readonly label: string
  readonly clientId: string
  readonly subject: string
  readonly scope: string
  /** The session's hard end (`sessionLifetime`), epoch ms; `null` when it has none. */
  readonly expiresAt: number | null
  /** The DPoP key its refresh tokens are bound to (RFC 9449 §5), `null` when unbound. */
  readonly jkt: string | null
  /** The resources its refreshes may ask for (RFC 8707 §2), `null` for any known one. */
  readonly resources: readonly string[] | null
  revoked: boolean
}

/** What the store keeps about one authorization code. Not part of the public surface. */
export interface CodeRecord extends CodeGrant {
  readonly expiresAt: number
  /** The family issued when the code was redeemed; `null` while it is unused. */
  family: Family | null
}

/** What the store keeps about one refresh token. Not part of the public surface. */
export interface RefreshRecord {
  readonly family: Family
  readonly expiresAt: number
  rotatedAt: number | null
  revoked: boolean
}

/** What the store keeps about one access token. Not part of the public surface. */
export interface AccessRecord {
  readonly family: Family
  readonly scope: string
  /** The DPoP key it is bound to, `null` for a bearer token. */
  readonly jkt: string | null
  /** The resource (audience) it was issued for, `null` for a default token. */
  readonly resource: string | null
  expiresAt: number
  revoked: boolean
}

/** The store's whole state, keyed by token value. Not part of the public surface. */
export interface TokenTables {
  readonly refreshTokens: Map<string, RefreshRecord>
  readonly accessTokens: Map<string, AccessRecord>
  readonly codes: Map<string, CodeRecord>
  /** Families minted so far; labels are `family-${familyCount}`. */
  familyCount: number
}

/**
 * Splits a scope string into its tokens (RFC 6749 §3.3).
 *
 * @param scope - space-separated scope
 * @returns the scope tokens, without empty entries
 */
export function scopeTokens(scope: string): string[] {
  return scope.split(' ').filter((token) => token.length > 0)
}

/**
 * Creates the token database behind the mock: sessions (refresh token families), rotation, reuse
 * detection and revocation. All time comes from `Date.now()` so fake timers control expiry.
 *
 * With `options.stateStorage`, the state lives there: see {@link sharedTokenStore}.
 *
 * @param options - resolved mock options
 * @returns the store
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2
 */
export function createTokenStore(options: ResolvedMockOptions): TokenStore {
  const tables: TokenTables = {
    refreshTokens: new Map(),
    accessTokens: new Map(),
    codes: new Map(),
    familyCount: 0,
  }
  const { refreshTokens, accessTokens, codes } = tables

  function mintAccessToken(
    family: Family,
    scope: string,
    now: number,
    jkt: string | null,
    resource: string | null,
  ): string {
    const expiresAt = now + options.accessTokenLifetime
    let token = randomTokenValue('at')
    if (options.tokenFormat === 'jwt') {
      // Claims are on the server's clock, which may be skewed; only exp − iat means anything to a
      // client (RFC 7519 §4.1.4, §4.1.6).
      const iat = Math.floor((now + options.clockSkew) / 1000)
      token = encodeUnsecuredJWT(
        { typ: 'at+jwt' },
        {
          iss: options.issuer,
          sub: family.subject,
          aud: resource ?? options.endpoints.api,
          client_id: family.clientId,
          scope,
          iat,
          exp: iat + Math.floor(options.accessTokenLifetime / 1000),
          jti: randomTokenValue('jti'),
          // RFC 9449 §6.1: the confirmation claim binds the token to the proof's key.
          ...(jkt === null ? {} : { cnf: { jkt } }),
        },
      )
    }
    accessTokens.set(token, { family, scope, jkt, resource, expiresAt, revoked: false })
    return token
  }

  function mintRefreshToken(family: Family, now: number): string {
    const token = randomTokenValue('rt')
    refreshTokens.set(token, {
      family,
      // No refresh token outlives its session's hard end, however recently it was rotated.
      expiresAt: Math.min(
        now + options.refreshTokenLifetime,
        family.expiresAt ?? Number.POSITIVE_INFINITY,
      ),
      rotatedAt: null,
      revoked: false,
    })
    return token
  }

  function response(
    accessToken: string,
    scope: string,
    jkt: string | null,
    refreshToken?: string,
  ): TokenResponse {
    return {
      access_token: accessToken,
      // RFC 9449 §5: a DPoP-bound access token is of type DPoP.
      token_type: jkt === null ? 'Bearer' : 'DPoP',
      ...(options.omitExpiresIn
        ? {}
        : { expires_in: Math.floor(options.accessTokenLifetime / 1000) }),
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
      scope,
    }
  }

  function revokeFamily(family: Family): void {
    family.revoked = true
    for (const record of refreshTokens.values()) if (record.family === family) record.revoked = true
    for (const record of accessTokens.values()) if (record.family === family) record.revoked = true
  }

  function insideGrace(record: RefreshRecord, now: number): boolean {
    return record.rotatedAt !== null && now - record.rotatedAt < options.reuseInterval
  }

  function refreshState(record: RefreshRecord, now: number): MockTokenState {
    if (record.revoked || record.family.revoked) return 'revoked'
    if (now >= record.expiresAt) return 'expired'
    if (record.rotatedAt !== null) return 'rotated'
    return 'active'
  }

  function accessState(record: AccessRecord, now: number): MockTokenState {
    if (record.revoked || record.family.revoked) return 'revoked'
    if (now >= record.expiresAt) return 'expired'
    return 'active'
  }

  function startSession(
    session: {
      readonly scope: string
      readonly subject: string
      readonly jkt: string | null
      readonly resources: readonly string[] | null
      readonly resource: string | null
    },
    withRefreshToken: boolean,
    now: number,
  ): { readonly family: Family; readonly body: TokenResponse } {
    const { scope, subject, jkt, resource } = session
    tables.familyCount += 1
    const family: Family = {
      label: `family-${tables.familyCount}`,
      clientId: options.clientId,
      subject,
      scope,
      expiresAt: options.sessionLifetime === null ? null : now + options.sessionLifetime,
      jkt,
      resources: session.resources,
      revoked: false,
    }
    const accessToken = mintAccessToken(family, scope, now, jkt, resource)
    const refreshToken = withRefreshToken ? mintRefreshToken(family, now) : undefined
    return { family, body: response(accessToken, scope, jkt, refreshToken) }
  }

  const store: TokenStore = {
    issue({
      scope = options.scope,
      subject = options.subject,
      refreshToken = true,
      jkt = null,
      resources = null,
    }) {
      return startSession(
        { scope, subject, jkt, resources, resource: null },
        refreshToken,
        Date.now(),
      ).body
    },

    createCode(grant) {
      const code = randomTokenValue('ac')
      codes.set(code, {
        ...grant,
        expiresAt: Date.now() + options.authorizationCodeLifetime,
        family: null,
      })
      return code
    },

    redeemCode({ code, redirectUri, verifierChallenge, jkt, resource }) {
      const now = Date.now()
      const record = codes.get(code)
      const deny = (
        description: string,
        reuseDetected = false,
        error: 'invalid_grant' | 'invalid_target' = 'invalid_grant',
      ): CodeOutcome => ({
        ok: false,
        error,
        description,
        family: record?.family?.label ?? null,
        reuseDetected,
      })
      if (record === undefined) return deny('The authorization code is not recognized')
      if (record.family !== null) {
        // RFC 6749 §4.1.2: a code presented twice may have been stolen; the tokens issued from it
        // are revoked as well as the request denied.
        revokeFamily(record.family)
        return deny('The authorization code was already used', true)
      }
      if (now >= record.expiresAt) return deny('The authorization code expired')
      // The code is bound to the client by construction: the mock has one registered client and
      // answers any other `client_id` invalid_client before reaching here.
      if (record.redirectUri !== redirectUri) {
        return deny('"redirect_uri" differs from the one of the authorization request')
      }
      if (verifierChallenge === null) {
        return deny('"code_verifier" must be 43 to 128 unreserved characters')
      }
      if (record.codeChallenge !== verifierChallenge) {
        return deny('"code_verifier" does not match the code challenge')
      }
      // RFC 9449 §10: a code requested with dpop_jkt is redeemable only with a proof of that key.
      if (record.dpopJkt !== null && jkt !== record.dpopJkt) {
        return deny('The DPoP proof is not of the key named by "dpop_jkt"')
      }
      // RFC 8707 §2.2: the token request may ask only for resources the grant covers.
      if (
        resource !== null &&
        record.resources.length > 0 &&
        !record.resources.includes(resource)
      ) {
        return deny(
          '"resource" was not named in the authorization request',
          false,
          'invalid_target',
        )
      }
      // A failed attempt leaves the code redeemable: only the party holding the verifier can use
      // it, and a mistyped redirect_uri must not cost the user a sign-in.
      const withRefreshToken =
        options.refreshTokenWithoutOfflineAccess ||
        scopeTokens(record.scope).includes('offline_access')
      const { family, body } = startSession(
        {
          scope: record.scope,
          subject: record.subject,
          jkt,
          resources: record.resources.length > 0 ? record.resources : null,
          resource,
        },
        withRefreshToken,
        now,
      )
      record.family = family
      return { ok: true, body, family: family.label, grant: record }
    },

    refresh({ refreshToken, clientId, scope, jkt = null, resource = null }) {
      const now = Date.now()
      const record = refreshTokens.get(refreshToken)
      const deny = (
        error: 'invalid_grant' | 'invalid_scope' | 'invalid_target',
        description: string,
        reuseDetected = false,
      ): RefreshOutcome => ({
        ok: false,
        error,
        description,
        family: record?.family.label ?? null,
        reuseDetected,
      })
      if (record === undefined) return deny('invalid_grant', 'The refresh token is not recognized')
      const { family } = record
      const state = refreshState(record, now)
      if (state === 'revoked') return deny('invalid_grant', 'The refresh token was revoked')
      if (state === 'expired') return deny('invalid_grant', 'The refresh token expired')
      // RFC 9449 §5: a bound refresh token is worthless without its key; checked before reuse
      // detection so that a thief without the key cannot end the session by replaying it.
      if (family.jkt !== null && jkt !== family.jkt) {
        const description =
          jkt === null
            ? 'The refresh token is bound to a DPoP key; send a proof of it'
            : 'The DPoP proof is not of the key the refresh token is bound to'
        return deny('invalid_grant', description)
      }
      if (state === 'rotated' && !insideGrace(record, now)) {
        if (options.reuseDetection) {
          // RFC 9700 §4.14.2: an old refresh token coming back means it may have been stolen; the
          // server cannot tell which party is legitimate, so the whole session ends.
          revokeFamily(family)
          return deny('invalid_grant', 'The refresh token was already used', true)
        }
        return deny('invalid_grant', 'The refresh token was rotated')
      }
      // RFC 6749 §5.2: a refresh token issued to another client is invalid_grant.
      if (family.clientId !== clientId) {
        return deny('invalid_grant', 'The refresh token was issued to another client')
      }
      let granted = family.scope
      if (scope !== null) {
        const allowed = new Set(scopeTokens(family.scope))
        const requested = scopeTokens(scope)
        // RFC 6749 §6: the requested scope must not include any scope not originally granted.
        if (requested.length === 0 || requested.some((token) => !allowed.has(token))) {
          return deny('invalid_scope', 'The requested scope exceeds the original grant')
        }
        granted = requested.join(' ')
      }
      if (resource !== null && family.resources !== null && !family.resources.includes(resource)) {
        return deny('invalid_target', '"resource" is not among those the grant covers')
      }
      if (options.revokeAccessTokensOnRefresh) {
        for (const access of accessTokens.values())
          if (access.family === family) access.revoked = true
      }
      const accessToken = mintAccessToken(family, granted, now, jkt, resource)
      if (!options.rotation)
        return { ok: true, body: response(accessToken, granted, jkt), family: family.label }
      // Retire every live refresh token of the family, not just the presented one: inside the
      // grace window the presented token may itself be an old one.
      for (const other of refreshTokens.values()) {
        if (other.family === family && other.rotatedAt === null) other.rotatedAt = now
      }
      return {
        ok: true,
        body: response(accessToken, granted, jkt, mintRefreshToken(family, now)),
        family: family.label,
      }
    },

    revoke(token) {
      const refresh = refreshTokens.get(token)
      if (refresh !== undefined) {
        // RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate the access tokens of the
        // same grant.
        revokeFamily(refresh.family)
        return { type: 'refresh_token', family: refresh.family.label }
      }
      const access = accessTokens.get(token)
      if (access !== undefined) {
        access.revoked = true
        return { type: 'access_token', family: access.family.label }
      }
      return { type: null, family: null }
    },

    checkAccess(token) {
      const record = accessTokens.get(token)
      if (record === undefined) return { state: 'unknown', family: null }
      const state = accessState(record, Date.now())
      if (state === 'active') {
        return {
          state,
          family: record.family.label,
          scope: record.scope,
          subject: record.family.subject,
          clientId: record.family.clientId,
          jkt: record.jkt,
          resource: record.resource,
        }
      }
      return { state: state === 'expired' ? 'expired' : 'revoked', family: record.family.label }
    },

    introspect(token) {
      const now = Date.now()
      const refresh = refreshTokens.get(token)
      if (refresh !== undefined) {
        const state = refreshState(refresh, now)
        return {
          active: state === 'active' || (state === 'rotated' && insideGrace(refresh, now)),
          state,
          type: 'refresh_token',
          family: refresh.family.label,
          scope: refresh.family.scope,
          expiresAt: refresh.expiresAt,
          jkt: refresh.family.jkt,
          resource: null,
        }
      }
      const access = accessTokens.get(token)
      if (access !== undefined) {
        const state = accessState(access, now)
        return {
          active: state === 'active',
          state,
          type: 'access_token',
          family: access.family.label,
          scope: access.scope,
          expiresAt: access.expiresAt,
          jkt: access.jkt,
          resource: access.resource,
        }
      }
      return {
        active: false,
        state: 'unknown',
        type: null,
        family: null,
        scope: null,
        expiresAt: null,
        jkt: null,
        resource: null,
      }
    },

    expireAccessTokens() {
      const now = Date.now()
      for (const record of accessTokens.values()) record.expiresAt = Math.min(record.expiresAt, now)
    },

    revokeRefreshTokens() {
      for (const record of refreshTokens.values()) record.revoked = true
    },

    reset() {
      refreshTokens.clear()
      accessTokens.clear()
      codes.clear()
      tables.familyCount = 0
    },
  }
  const { stateStorage } = options
  return stateStorage === null
    ? store
    : sharedTokenStore(store, tables, stateStorage, options.stateKey)
}

/**
 * Makes a store act on state kept in a {@link MockStateStorage}: every operation first reloads the
 * tables, and every operation that may change them saves them back. Operations are synchronous, so
 * nothing in this realm runs between the load and the save; several mocks over one storage (one per
 * browser tab over `localStorage`) act as one server.
 *
 * @param store - the store working on `tables`
 * @param tables - the tables `store` reads and changes in place
 * @param storage - where the state is shared
 * @param key - the storage key
 * @returns the same store, over the shared state
 */
function sharedTokenStore(
  store: TokenStore,
  tables: TokenTables,
  storage: MockStateStorage,
  key: string,
): TokenStore {
  function reading<A extends unknown[], R>(operation: (...args: A) => R): (...args: A) => R {
    return (...args) => {
      restoreTables(storage, key, tables)
      return operation(...args)
    }
  }
  function writing<A extends unknown[], R>(operation: (...args: A) => R): (...args: A) => R {
    return (...args) => {
      restoreTables(storage, key, tables)
      try {
        return operation(...args)
      } finally {
        saveTables(storage, key, tables)
      }
    }
  }
  return {
    issue: writing(store.issue),
    refresh: writing(store.refresh),
    createCode: writing(store.createCode),
    redeemCode: writing(store.redeemCode),
    revoke: writing(store.revoke),
    checkAccess: reading(store.checkAccess),
    introspect: reading(store.introspect),
    expireAccessTokens: writing(store.expireAccessTokens),
    revokeRefreshTokens: writing(store.revokeRefreshTokens),
    reset: writing(store.reset),
  }
}
