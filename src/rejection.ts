// Loaded on demand (dynamic import) at the first 401 from an API: what a 401 leads to. It imports
// only public error classes from the main bundle; its time budgets are passed in.
export { createRejectionBreaker, type RejectionBreaker } from './rejection-breaker.js'
export { readBearerError } from './www-authenticate.js'
