// `sim-sdk/...`: the SDK's chunks as the simulator's vitest configuration aliases them
// (sdk-setup.ts loads them for their side effect on the module cache only).
declare module 'sim-sdk/*'
