// Preload for profiling a server child that dies on SIGTERM without a handler (the reference
// server has none), so that --cpu-prof gets to write its profile:
//   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof --require ./bench/profile-exit.cjs"
// A server with its own SIGTERM handler (Quire) is left alone: this one then does nothing.
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (process.listenerCount(signal) === 1) process.exit(0)
  })
}
