// An @ethereumjs/devp2p 10 test peer with the `mycel devp2p-listen` / `devp2p-dial`
// contract (see the README of the repository):
//
//   node peer.mjs listen     LISTEN enode://<id>@127.0.0.1:<port>, then per session
//                            HELLO <remote-id> <client-id> and, when it ends,
//                            DISCONNECT <remote-id> <reason> <we|they>; until stdin ends
//   node peer.mjs dial <enode> [--timeout-s S]
//                            one JSON line: ok, remote_id, client_id, caps, echo_ok,
//                            ping_ms; the session ends with Disconnect 0x08
//
// The capability test/1: 0x00 echo-request [bytes], 0x01 echo-reply [same bytes].

import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'

import { RLPx } from '@ethereumjs/devp2p'
import { RLP } from '@ethereumjs/rlp'
import * as snappy from 'snappyjs'

const hex = (bytes) => Buffer.from(bytes).toString('hex')
const line = (text) => process.stdout.write(text + '\n')

// test/1 as @ethereumjs/devp2p wants a subprotocol: built per peer with a send function
// taking (code, payload); inbound payloads arrive decompressed, still RLP.
class Test {
  constructor (version, peer, send) {
    this.version = version
    this.peer = peer
    this.sendRaw = send
    this.events = new EventEmitter()
  }

  _handleMessage (code, data) {
    this.events.emit('message', code, RLP.decode(data))
  }

  send (code, payload) {
    let data = RLP.encode(payload)
    if ((this.peer._hello?.protocolVersion ?? 0) >= 5) data = snappy.compress(data)
    this.sendRaw(code, data)
  }
}

const capability = { name: 'test', version: 1, length: 2, constructor: Test }

function node () {
  let key = randomBytes(32)
  const rlpx = new RLPx(key, {
    capabilities: [capability],
    maxPeers: 25,
    timeout: 10000
  })
  rlpx.events.on('error', (e) => process.stderr.write(`rlpx error: ${e}\n`))
  rlpx.events.on('peer:error', (_p, e) => process.stderr.write(`peer error: ${e}\n`))
  return rlpx
}

async function listen () {
  const rlpx = node()
  rlpx.events.on('peer:added', (peer) => {
    const id = hex(peer.getId())
    line(`HELLO ${id} ${peer.getHelloMessage().clientId}`)
    const test = peer.getProtocols().find((p) => p instanceof Test)
    test?.events.on('message', (code, payload) => {
      if (code === 0) test.send(1, payload)
    })
  })
  rlpx.events.on('peer:removed', (peer, reason, we) => {
    line(`DISCONNECT ${hex(peer.getId())} ${reason} ${we ? 'we' : 'they'}`)
  })
  rlpx.events.once('listening', () => {
    const { port } = rlpx._server.address()
    line(`LISTEN enode://${hex(rlpx.id)}@127.0.0.1:${port}`)
  })
  rlpx.listen(0, '127.0.0.1')
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

async function dial (enode, timeoutS) {
  const match = /^enode:\/\/([0-9a-f]{128})@([0-9.]+):(\d+)$/.exec(enode)
  if (!match) return fail(`not an enode URL: ${enode}`)
  const timer = setTimeout(() => fail(`timed out after ${timeoutS} s`), timeoutS * 1000)
  const rlpx = node()
  const added = new Promise((resolve, reject) => {
    rlpx.events.once('peer:added', resolve)
    rlpx.events.once('peer:removed', (_p, reason) => reject(new Error(`disconnected: ${reason}`)))
  })
  await rlpx.connect({ id: Buffer.from(match[1], 'hex'), address: match[2], tcpPort: Number(match[3]) })
  const peer = await added
  const hello = peer.getHelloMessage()
  const test = peer.getProtocols().find((p) => p instanceof Test)
  if (!test) return fail('no test/1')
  const payload = randomBytes(1024)
  const reply = new Promise((resolve) => test.events.once('message', (code, data) => resolve([code, data])))
  test.send(0, [payload])
  const [code, data] = await reply
  const echoOk = code === 1 && Buffer.from(data[0]).equals(payload)
  // One Ping, timed until its Pong.
  const started = process.hrtime.bigint()
  const pong = new Promise((resolve) => {
    const handle = peer._handlePong.bind(peer)
    peer._handlePong = () => { handle(); resolve() }
  })
  peer._sendPing()
  await pong
  const pingMs = Number(process.hrtime.bigint() - started) / 1e6
  peer.disconnect(0x08)
  clearTimeout(timer)
  line(JSON.stringify({
    ok: true,
    remote_id: hex(peer.getId()),
    client_id: hello.clientId,
    caps: hello.capabilities.map((c) => `${c.name}/${c.version}`),
    echo_ok: echoOk,
    ping_ms: pingMs
  }))
  setTimeout(() => process.exit(0), 300)
}

function fail (error) {
  line(JSON.stringify({ ok: false, error: String(error) }))
  process.exit(1)
}

const [command, ...args] = process.argv.slice(2)
try {
  if (command === 'listen') await listen()
  else if (command === 'dial') {
    const t = args.indexOf('--timeout-s')
    await dial(args[0], t >= 0 ? Number(args[t + 1]) : 30)
  } else {
    process.stderr.write('usage: peer.mjs listen | dial <enode> [--timeout-s S]\n')
    process.exit(2)
  }
} catch (e) {
  fail(e?.message ?? e)
}
