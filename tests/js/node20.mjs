// Node 20 lacks Promise.withResolvers (Node 22 has it), which it-queue (used by
// libp2p's peer store through mortice) calls. peer.mjs imports this module first.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve
    let reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
