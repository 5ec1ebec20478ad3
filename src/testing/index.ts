export type {
  ApiLogEntry,
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
export type { MockDiscoveryMode, MockEndpoints, MockTokenServerOptions } from './options.js'
export type { OAuthErrorCode } from './responses.js'
export type { MockStateStorage } from './state-storage.js'
export type { MockTokenIntrospection, MockTokenState } from './token-store.js'
