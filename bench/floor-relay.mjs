#!/usr/bin/env node
/**
 * The floor: the least a Node WebSocket relay must do. Every frame a socket sends is forwarded,
 * undecoded, to the other sockets connected on the same URL path. No documents, no storage, no
 * sync handshake, no echo to the sender, no heartbeat. Any real sync server pays at least this.
 *
 *   HOST=127.0.0.1 PORT=0 node bench/floor-relay.mjs   → "floor relay listening on 127.0.0.1:<port>"
 */
import { createServer } from 'node:http'
import { WebSocket, WebSocketServer } from 'ws'

const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 0)

const http = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' })
  res.end('floor relay\n')
})
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 })
/** @type {Map<string, Set<WebSocket>>} */
const paths = new Map()

http.on('upgrade', (req, socket, head) => {
  wss.handleUpgrade(req, socket, head, (ws) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    let peers = paths.get(path)
    if (!peers) paths.set(path, (peers = new Set()))
    const group = peers
    group.add(ws)
    ws.on('message', (data, isBinary) => {
      for (const peer of group) if (peer !== ws && peer.readyState === WebSocket.OPEN) peer.send(data, { binary: isBinary })
    })
    ws.on('close', () => {
      group.delete(ws)
      if (group.size === 0 && paths.get(path) === group) paths.delete(path)
    })
    ws.on('error', () => {})
  })
})

http.listen(port, host, () => {
  const address = http.address()
  console.log(`floor relay listening on ${host}:${typeof address === 'object' && address ? address.port : port}`)
})
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0))
