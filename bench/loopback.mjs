// The benchmarks' own servers: node:http on 127.0.0.1. Shared by bench/run.mjs (a), b)) and
// bench/dpop.mjs (i)).
import { createServer } from 'node:http'

/** Starts a node:http server on 127.0.0.1 with an OS-chosen port. */
export async function listen(handler) {
  const server = createServer(handler)
  // A deep backlog so 1,000 simultaneous connects are not dropped into SYN retries.
  await new Promise((resolve) =>
    server.listen({ host: '127.0.0.1', port: 0, backlog: 4_096 }, resolve),
  )
  const { port } = server.address()
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(resolve))
    },
  }
}
