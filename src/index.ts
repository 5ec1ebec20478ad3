export type { TokenClient } from './client.js'
export { createTokenClient } from './client.js'
export type { AuthErrorCode } from './errors.js'
export {
  AuthError,
  DiscoveryError,
  InvalidTokenResponseError,
  isAuthError,
  LoginError,
  NoSessionError,
  SessionExpiredError,
  TokenEndpointError,
  TokenEndpointUnavailableError,
  TokenRejectedError,
} from './errors.js'
export type { TokenClientEvents, TokenClientListener } from './events.js'
export type { LoginOptions, LoginResult } from './login/context.js'
export type { IdTokenClaims } from './login/id-token.js'
export type { ApiOrigin, BackendOptions, FetchFunction, TokenClientOptions } from './options.js'
export type { TokenStorage } from './storage.js'
export type { TokenResponse, TokenSet } from './token-set.js'
