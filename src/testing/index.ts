export type { AuthorizeVerdict, MockAuthorizationErrorCode } from './authorization.js'
export { MockAuthorizationError } from './authorization.js'
export type {
  MockBackendCamelBody,
  MockBackendEndpoints,
  MockBackendOptions,
  MockBackendRFC6749Body,
  MockBackendTokenBody,
} from './cookie-backend.js'
export { MOCK_REFRESH_COOKIE } from './cookie-backend.js'
export type {
  ApiLogEntry,
  AuthorizationLogEntry,
  BackendLogEntry,
  CodeExchangeLogEntry,
  EndSessionLogEntry,
  MockTokenServerCounters,
  MockTokenServerLog,
  RevocationLogEntry,
  TokenRequestLogEntry,
} from './counters.js'
export type {
  BodyFault,
  HTMLFault,
  LatencyFault,
  MalformedJSONFault,
  MockFault,
  MockFaultOptions,
  MockFaultTarget,
  NetworkErrorFault,
  OAuthErrorFault,
  StatusFault,
} from './faults.js'
export type { IssueTokensOptions, MockTokenServer } from './mock-token-server.js'
export { createMockTokenServer } from './mock-token-server.js'
export type {
  MockApiOptions,
  MockDiscoveryMode,
  MockDPoPOptions,
  MockEndpoints,
  MockTokenServerOptions,
} from './options.js'
export type { OAuthErrorCode } from './responses.js'
export type { MockStateStorage } from './state-storage.js'
export type { MockTokenIntrospection, MockTokenState } from './token-store.js'
export { MOCK_ID_TOKEN_SECRET } from './token-values.js'
