// The SDK the simulator runs is src/, or the copy that SIM_SDK names (sdk-source.ts), aliased as
// `sim-sdk` by the simulator's vitest configuration. Its chunks (the SDK's `import()`s) are loaded
// before the first seed, so that an `import()` resolves from the module cache within the step that
// asked, as in a page once a chunk has arrived: a chunk loaded for real would resolve outside the
// scheduler's control. Literal specifiers, so that they resolve to the modules the SDK's own
// `import()`s name (as test/mocks/lazy-chunks-setup.ts does for src/).
await Promise.all([
  import('sim-sdk/token-server.js'),
  import('sim-sdk/rejection-policy.js'),
  import('sim-sdk/discovery.js'),
  import('sim-sdk/cross-tab/channel-lease.js'),
  import('sim-sdk/backend.js'),
  import('sim-sdk/cross-tab/cross-tab.js'),
  import('sim-sdk/session-end.js'),
  import('sim-sdk/login/index.js'),
  import('sim-sdk/api-fetch.js'),
  import('sim-sdk/resource-tokens.js'),
  import('sim-sdk/dpop/dpop.js'),
])

export {}
