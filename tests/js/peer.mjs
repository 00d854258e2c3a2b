#!/usr/bin/env node
// A js-libp2p 2.9 test peer for mycel's interop tests. It mirrors the `mycel` command's
// `listen`, `dial` and `perf` so a Rust test can drive either the same way. Install its
// pinned dependencies once with `npm ci` in this folder (Node 20 or newer).
//
// Usage (exit 0 on success, 1 on a failed dial/perf, 2 on bad usage):
//
//   node peer.mjs listen [--muxer yamux|mplex] [--kad] [--key-type T]
//                        [--pubsub floodsub|gossipsub --topic T [--publish MSG]]
//     Listens on /ip4/127.0.0.1/tcp/0 and serves ping, identify, /perf/1.0.0 and, with
//     --kad, the DHT (/ipfs/kad/1.0.0, server mode, storing any record under /test/).
//     stdout, one event a line:
//       LISTEN <multiaddr>/p2p/<peer-id>      first line, once listening
//       IDENTIFY <peer-id> <agent-version>    per identify received from a peer
//       MSG <topic> <data>                    per pubsub message on the topic
//     With --publish, publishes MSG once a peer is subscribed to the topic, then again
//     every second, 10 times in all. Runs until SIGTERM, SIGINT or the end of stdin.
//
//   node peer.mjs dial <multiaddr>/p2p/<id> [--muxer yamux|mplex] [--key-type T]
//                      [--timeout-s S] [--perf-upload N --perf-download M]
//                      [--kad-put KEY=VALUE] [--kad-get KEY]
//                      [--pubsub floodsub|gossipsub --topic T [--publish MSG] [--wait-msgs N]]
//     Connects, pings once (--ping is accepted and changes nothing), waits for identify
//     and prints one JSON line:
//       {"ok":true,"peer":…,"rtt_ms":…,"connect_ms":…,"agent":…,"protocols":[…]}
//     plus "perf":{"upload_bytes","download_bytes","seconds"} with --perf-*,
//     "kad_get": value as text or null with --kad-get (read from a remote peer only, never
//     from the local copy), "received":[data…] with --pubsub (it waits until the peer is
//     subscribed, and in its mesh for gossipsub, publishes MSG, then waits for N
//     messages). On failure or timeout (default 30 s): {"ok":false,"error":"…"}, exit 1.
//
//   node peer.mjs perf <multiaddr>/p2p/<id> --upload-bytes N --download-bytes M
//                      [--muxer yamux|mplex] [--timeout-s S]
//     As `mycel perf`: one /perf/1.0.0 exchange, then
//       {"ok":true,"upload_bytes":…,"download_bytes":…,"seconds":…,"connect_ms":…}
//
// --key-type is ed25519 (default), secp256k1 or rsa (ecdsa is refused with exit 2:
// js-libp2p 2.9 has no ECDSA peer ids). Set DEBUG (e.g.
// DEBUG='libp2p:floodsub*,libp2p:pubsub*') for js-libp2p's own logs on stderr.

import './node20.mjs'
import { parseArgs } from 'node:util'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { floodsub } from '@libp2p/floodsub'
import { identify } from '@libp2p/identify'
import { kadDHT } from '@libp2p/kad-dht'
import { mplex } from '@libp2p/mplex'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'

const PERF_PROTOCOL = '/perf/1.0.0'
const KAD_PROTOCOL = '/ipfs/kad/1.0.0'
const LISTEN_PUBLISH_COUNT = 10
const PERF_CHUNK = 64 * 1024
const POLL_MS = 50

class UsageError extends Error {}

function writeLine (line) {
  return new Promise(resolve => process.stdout.write(line + '\n', () => resolve()))
}

async function exit (code) {
  await new Promise(resolve => process.stdout.write('', () => resolve()))
  process.exit(code)
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function until (check, signal) {
  while (!(await check())) {
    if (signal?.aborted) throw new Error('timed out')
    await sleep(POLL_MS)
  }
}

function parse (argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      muxer: { type: 'string', default: 'yamux' },
      kad: { type: 'boolean', default: false },
      'key-type': { type: 'string', default: 'ed25519' },
      pubsub: { type: 'string' },
      topic: { type: 'string' },
      publish: { type: 'string' },
      'wait-msgs': { type: 'string', default: '0' },
      ping: { type: 'boolean', default: false },
      'timeout-s': { type: 'string', default: '30' },
      'perf-upload': { type: 'string' },
      'perf-download': { type: 'string' },
      'upload-bytes': { type: 'string' },
      'download-bytes': { type: 'string' },
      'kad-put': { type: 'string' },
      'kad-get': { type: 'string' }
    }
  })
  const [command, ...rest] = positionals
  if (!['listen', 'dial', 'perf'].includes(command)) throw new UsageError('expected listen, dial or perf')
  if (command === 'listen' && rest.length !== 0) throw new UsageError('listen takes no address')
  if (command !== 'listen' && rest.length !== 1) throw new UsageError(`${command} takes one address`)
  if (!['yamux', 'mplex'].includes(values.muxer)) throw new UsageError('--muxer is yamux or mplex')
  if (values['key-type'] === 'ecdsa') {
    // @libp2p/peer-id 5.x has no ECDSA peer ids (peerIdFromPublicKey throws).
    throw new UsageError('js-libp2p 2.9 cannot use an ECDSA identity')
  }
  if (!['ed25519', 'secp256k1', 'rsa'].includes(values['key-type'])) {
    throw new UsageError('--key-type is ed25519, secp256k1 or rsa')
  }
  if (values.pubsub != null && !['floodsub', 'gossipsub'].includes(values.pubsub)) {
    throw new UsageError('--pubsub is floodsub or gossipsub')
  }
  if ((values.pubsub == null) !== (values.topic == null)) throw new UsageError('--pubsub and --topic go together')
  if (values.publish != null && values.pubsub == null) throw new UsageError('--publish needs --pubsub')
  const count = (name) => {
    const v = values[name]
    if (v == null) return undefined
    if (!/^\d+$/.test(v)) throw new UsageError(`--${name} takes a whole number`)
    return Number(v)
  }
  const opts = {
    command,
    addr: rest[0],
    muxer: values.muxer,
    kad: values.kad,
    keyType: values['key-type'],
    pubsub: values.pubsub,
    topic: values.topic,
    publish: values.publish,
    waitMsgs: count('wait-msgs'),
    timeoutMs: Number(values['timeout-s']) * 1000,
    perfUpload: count('perf-upload') ?? count('upload-bytes'),
    perfDownload: count('perf-download') ?? count('download-bytes'),
    kadPut: undefined,
    kadGet: values['kad-get']
  }
  if (!(opts.timeoutMs > 0)) throw new UsageError('--timeout-s takes a positive number')
  if (opts.waitMsgs > 0 && opts.pubsub == null) throw new UsageError('--wait-msgs needs --pubsub')
  if ((opts.perfUpload == null) !== (opts.perfDownload == null)) {
    throw new UsageError('perf needs both an upload and a download size')
  }
  if (command === 'perf' && opts.perfUpload == null) throw new UsageError('perf needs --upload-bytes and --download-bytes')
  if (values['kad-put'] != null) {
    const at = values['kad-put'].indexOf('=')
    if (at <= 0) throw new UsageError('--kad-put takes KEY=VALUE')
    opts.kadPut = { key: values['kad-put'].slice(0, at), value: values['kad-put'].slice(at + 1) }
  }
  if (opts.kadGet === '') throw new UsageError('--kad-get takes a key')
  if (opts.addr != null) {
    try {
      const ma = multiaddr(opts.addr)
      if (ma.getPeerId() == null) throw new Error('no /p2p/')
      opts.ma = ma
    } catch (err) {
      throw new UsageError(`bad address ${opts.addr}: ${err.message}`)
    }
  }
  return opts
}

async function makeKey (type) {
  switch (type) {
    case 'secp256k1': return generateKeyPair('secp256k1')
    case 'rsa': return generateKeyPair('RSA', 2048)
    default: return generateKeyPair('Ed25519')
  }
}

// The DHT accepts any record under /test/ and picks the first of several.
function dhtService (clientMode) {
  return kadDHT({
    protocol: KAD_PROTOCOL,
    clientMode,
    peerInfoMapper: (peer) => peer, // keep loopback addresses
    validators: { test: async () => {} },
    selectors: { test: () => 0 }
  })
}

function pubsubService (router) {
  if (router === 'gossipsub') {
    return gossipsub({ allowPublishToZeroTopicPeers: true, fallbackToFloodsub: false, emitSelf: false })
  }
  return floodsub({ emitSelf: false })
}

async function makeNode (opts, listen) {
  // The DHT's routing table pings every new peer before adding it; with js's default of
  // one outbound ping stream, that ping loses to the dialer's own and the peer is never
  // added (the DHT then finds nobody). Two streams let both run.
  const services = { identify: identify(), ping: ping({ maxOutboundStreams: 2 }) }
  if (opts.kad || opts.kadPut != null || opts.kadGet != null) services.dht = dhtService(!listen)
  if (opts.pubsub != null) services.pubsub = pubsubService(opts.pubsub)
  const node = await createLibp2p({
    privateKey: await makeKey(opts.keyType),
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0'] : [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [opts.muxer === 'mplex' ? mplex() : yamux()],
    connectionMonitor: { enabled: false },
    services
  })
  await node.handle(PERF_PROTOCOL, ({ stream }) => {
    servePerf(stream).catch(err => { stream.abort(err) })
  }, { maxInboundStreams: 64 })
  return node
}

// /perf/1.0.0: the client sends the byte count it wants back as a big-endian u64, then
// its upload, then closes its write side; the server drains, sends the count, closes.
async function servePerf (stream) {
  let header = new Uint8Array(0)
  for await (const chunk of stream.source) {
    if (header.length < 8) {
      const bytes = chunk.subarray()
      const joined = new Uint8Array(header.length + bytes.length)
      joined.set(header)
      joined.set(bytes, header.length)
      header = joined
    }
  }
  if (header.length < 8) throw new Error('perf: short request')
  const download = new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0)
  await stream.sink(zeros(download))
}

async function * zeros (total) {
  const block = new Uint8Array(PERF_CHUNK)
  let left = BigInt(total)
  while (left > 0n) {
    const n = left > BigInt(PERF_CHUNK) ? PERF_CHUNK : Number(left)
    yield n === PERF_CHUNK ? block : block.subarray(0, n)
    left -= BigInt(n)
  }
}

async function runPerf (node, peer, upload, download, signal) {
  const start = performance.now()
  const stream = await node.dialProtocol(peer, PERF_PROTOCOL, { signal })
  const header = new Uint8Array(8)
  new DataView(header.buffer).setBigUint64(0, BigInt(download))
  const sent = stream.sink((async function * () {
    yield header
    yield * zeros(upload)
  })())
  let received = 0
  for await (const chunk of stream.source) received += chunk.byteLength
  await sent
  if (received !== download) throw new Error(`perf: got ${received} bytes, wanted ${download}`)
  return { upload_bytes: upload, download_bytes: received, seconds: round((performance.now() - start) / 1000) }
}

const round = x => Math.round(x * 1000) / 1000

// Resolves with the identify result of `peer` (or null after `ms`).
function identifyOf (node, peer, ms) {
  return new Promise(resolve => {
    const done = (result) => {
      clearTimeout(timer)
      node.removeEventListener('peer:identify', onIdentify)
      resolve(result)
    }
    const onIdentify = (evt) => { if (evt.detail.peerId.equals(peer)) done(evt.detail) }
    const timer = setTimeout(() => done(null), ms)
    node.addEventListener('peer:identify', onIdentify)
  })
}

async function kadExchange (node, peer, opts, out, signal) {
  const dht = node.services.dht
  await until(() => dht.routingTable.size > 0, signal)
  const encoder = new TextEncoder()
  if (opts.kadPut != null) {
    const value = encoder.encode(opts.kadPut.value)
    let stored = 0
    for await (const event of dht.put(encoder.encode(opts.kadPut.key), value, { signal })) {
      if (event.name === 'PEER_RESPONSE' && event.messageName === 'PUT_VALUE' &&
          event.record != null && Buffer.from(event.record.value).equals(Buffer.from(value))) stored++
    }
    if (stored === 0) throw new Error('kad put: no peer stored the record')
  }
  if (opts.kadGet != null) {
    let found = null
    try {
      for await (const event of dht.get(encoder.encode(opts.kadGet), { signal })) {
        if (found == null && event.name === 'PEER_RESPONSE' && event.messageName === 'GET_VALUE' &&
            event.record != null && !event.from.equals(node.peerId)) {
          found = new TextDecoder().decode(event.record.value)
        }
      }
    } catch (err) {
      if (err.name !== 'NotFoundError') throw err
    }
    out.kad_get = found
  }
}

async function pubsubExchange (node, peer, opts, signal) {
  const pubsub = node.services.pubsub
  const received = []
  let wake = () => {}
  pubsub.addEventListener('message', (evt) => {
    if (evt.detail.topic !== opts.topic) return
    received.push(new TextDecoder().decode(evt.detail.data))
    wake()
  })
  pubsub.subscribe(opts.topic)
  await until(() => {
    const subscribed = pubsub.getSubscribers(opts.topic).some(p => p.equals(peer))
    const grafted = opts.pubsub !== 'gossipsub' || pubsub.getMeshPeers(opts.topic).includes(peer.toString())
    // js floodsub drops an RPC to a peer whose outbound stream is not open yet (it
    // logs "no outbound stream"), and the peer's subscription can arrive first.
    const writable = opts.pubsub !== 'floodsub' || pubsub.peers?.get(peer)?.isWritable === true
    return subscribed && grafted && writable
  }, signal)
  if (opts.publish != null) await pubsub.publish(opts.topic, new TextEncoder().encode(opts.publish))
  while (received.length < opts.waitMsgs) {
    if (signal.aborted) throw new Error('timed out')
    await new Promise(resolve => { wake = resolve; setTimeout(resolve, POLL_MS) })
  }
  return received.slice(0, Math.max(opts.waitMsgs, received.length))
}

async function dial (opts) {
  const node = await makeNode(opts, false)
  const signal = AbortSignal.timeout(opts.timeoutMs)
  const peer = opts.ma.getPeerId()
  let code = 0
  try {
    const work = async () => {
      const started = performance.now()
      const peerId = (await node.dial(opts.ma, { signal })).remotePeer
      const identified = identifyOf(node, peerId, Math.min(opts.timeoutMs, 5000))
      const connectMs = round(performance.now() - started)
      if (peerId.toString() !== peer) throw new Error(`dialed ${peerId} instead of ${peer}`)
      if (opts.command === 'perf') {
        const result = await runPerf(node, peerId, opts.perfUpload, opts.perfDownload, signal)
        return { ok: true, ...result, connect_ms: connectMs }
      }
      const rtt = await node.services.ping.ping(peerId, { signal })
      const id = await identified
      const out = {
        ok: true,
        peer: peerId.toString(),
        rtt_ms: round(rtt),
        connect_ms: connectMs,
        agent: id?.agentVersion ?? null,
        protocols: id?.protocols ?? []
      }
      if (opts.perfUpload != null) out.perf = await runPerf(node, peerId, opts.perfUpload, opts.perfDownload, signal)
      if (opts.kadPut != null || opts.kadGet != null) await kadExchange(node, peerId, opts, out, signal)
      if (opts.pubsub != null) out.received = await pubsubExchange(node, peerId, opts, signal)
      return out
    }
    const timeout = new Promise((resolve, reject) => {
      signal.addEventListener('abort', () => reject(new Error('timed out')), { once: true })
    })
    await writeLine(JSON.stringify(await Promise.race([work(), timeout])))
  } catch (err) {
    await writeLine(JSON.stringify({ ok: false, error: String(err?.message ?? err) }))
    code = 1
  }
  // Let the last pubsub messages leave before closing: floodsub has no acknowledgement,
  // and a message queued behind a stream still opening is lost if the node stops.
  if (opts.pubsub != null) await sleep(1000)
  await Promise.race([node.stop(), sleep(2000)])
  await exit(code)
}

async function listen (opts) {
  const node = await makeNode(opts, true)
  const addr = node.getMultiaddrs().find(ma => ma.toString().startsWith('/ip4/127.0.0.1/tcp/'))
  node.addEventListener('peer:identify', (evt) => {
    void writeLine(`IDENTIFY ${evt.detail.peerId} ${evt.detail.agentVersion ?? ''}`)
  })
  let publisher = null
  if (opts.pubsub != null) {
    const pubsub = node.services.pubsub
    pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic !== opts.topic) return
      void writeLine(`MSG ${evt.detail.topic} ${new TextDecoder().decode(evt.detail.data)}`)
    })
    pubsub.subscribe(opts.topic)
    if (opts.publish != null) {
      publisher = (async () => {
        await until(() => pubsub.getSubscribers(opts.topic).length > 0)
        for (let i = 0; i < LISTEN_PUBLISH_COUNT; i++) {
          try {
            await pubsub.publish(opts.topic, new TextEncoder().encode(opts.publish))
          } catch (err) {
            process.stderr.write(`peer.mjs: publish failed: ${err.message}\n`)
          }
          await sleep(1000)
        }
      })()
      publisher.catch(() => {})
    }
  }
  await writeLine(`LISTEN ${addr}`)
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    await Promise.race([node.stop(), sleep(2000)])
    await exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  process.stdin.on('end', stop)
  process.stdin.on('error', stop)
  process.stdin.resume()
}

let opts
try {
  opts = parse(process.argv.slice(2))
} catch (err) {
  process.stderr.write(`peer.mjs: ${err.message}\n`)
  process.exit(2)
}
try {
  if (opts.command === 'listen') await listen(opts)
  else await dial(opts)
} catch (err) {
  if (opts.command === 'listen') {
    process.stderr.write(`peer.mjs: ${err?.stack ?? err}\n`)
    process.exit(1)
  }
  await writeLine(JSON.stringify({ ok: false, error: String(err?.message ?? err) }))
  await exit(1)
}
