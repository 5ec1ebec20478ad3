// The SDK loads some code on demand (a dynamic import): the token-server conversation and renewal, the 401
// policy, discovery, the session backend, sign-in, the tabs, the session's end, the lease for browsers without Web Locks,
// the general path of auth.fetch, the resources' tokens and DPoP. Under fake time a test cannot
// tell how long the real loading takes, so fake time could run ahead of it (a pause measured from
// the wrong instant). Loading them before each test file makes the SDK's `import()` resolve from
// the module cache, as it does in a page once a chunk has arrived.
await Promise.all([
  import('../../src/token-server.js'),
  import('../../src/rejection-policy.js'),
  import('../../src/discovery.js'),
  import('../../src/cross-tab/channel-lease.js'),
  import('../../src/backend.js'),
  import('../../src/cross-tab/cross-tab.js'),
  import('../../src/session-end.js'),
  import('../../src/login/index.js'),
  import('../../src/api-fetch.js'),
  import('../../src/resource-tokens.js'),
  import('../../src/dpop/dpop.js'),
])

export {}
