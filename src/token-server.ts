// The chunk loaded on demand (dynamic import) by the first renewal or logout: everything that
// talks to the token server. A page that never renews never loads it. Its modules import only
// public error classes from the main bundle; what else they need is passed in.
export { renew, takeTurns } from './renewal.js'
export { createTokenConversation } from './token-endpoint.js'
