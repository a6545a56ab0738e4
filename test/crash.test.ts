/**
 * Crash durability: the server relays an update (to every peer, the sender included) only after
 * it is committed to LevelDB. So once a writer has seen the echo of its last update, SIGKILL must
 * not lose any of them: the next server on the same data dir serves them all at the first sync.
 */
import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as syncProtocol from 'y-protocols/sync'
import { cleanup, connect, rawClient, tempDir, waitFor, withTimeout } from './helpers.js'
import { atFirstSync, killChildren, startChild } from './child-server.js'

afterEach(async () => {
  await killChildren()
  await cleanup()
})

const UPDATES = 1000

/** The n-th character the writer types, so order and completeness are both checked. */
const char = (n: number) => String.fromCharCode(97 + (n % 26))
const EXPECTED = Array.from({ length: UPDATES }, (_, n) => char(n)).join('')

function updateFrame(update: Uint8Array): Uint8Array {
  const encoder = encoding.createEncoder()
  encoding.writeVarUint(encoder, 0) // sync
  encoding.writeVarUint(encoder, syncProtocol.messageYjsUpdate)
  encoding.writeVarUint8Array(encoder, update)
  return encoding.toUint8Array(encoder)
}

describe('crash durability (SIGKILL)', () => {
  it.each<{ label: string; env: Record<string, string> }>([
    { label: 'default settings', env: {} },
    { label: 'compaction every 64 updates', env: { COMPACT_AFTER_UPDATES: '64' } },
  ])('keeps all 1000 echoed one-character updates ($label)', async ({ env }) => {
    const dataDir = await tempDir()
    const first = await startChild({ dataDir, env })

    // A raw writer: sends exactly one update frame per transaction and never answers SyncStep1,
    // so the server learns each character from its own frame only.
    const writer = await rawClient(first.url, 'crash')
    const doc = new Y.Doc()
    doc.on('update', (update: Uint8Array) => writer.send(updateFrame(update)))

    // Everything the server sends back goes into a scratch doc; when it holds all 1000
    // characters, every update has been committed: kill the server right then.
    const echoes = new Y.Doc()
    const killed = new Promise<void>((resolve) => {
      writer.ws.on('message', (data: Buffer) => {
        const decoder = decoding.createDecoder(new Uint8Array(data))
        if (decoding.readVarUint(decoder) !== 0) return
        const subtype = decoding.readVarUint(decoder)
        if (subtype !== syncProtocol.messageYjsUpdate && subtype !== syncProtocol.messageYjsSyncStep2) return
        Y.applyUpdate(echoes, decoding.readVarUint8Array(decoder))
        if (echoes.getText('t').length === UPDATES && !first.child.killed) {
          first.child.kill('SIGKILL')
          resolve()
        }
      })
    })

    const text = doc.getText('t')
    for (let n = 0; n < UPDATES; n++) {
      text.insert(text.length, char(n)) // one transaction, one update, one frame
      // Yield now and then so the updates spread over many group-commit batches.
      if (n % 50 === 49) await new Promise((resolve) => setImmediate(resolve))
    }
    await withTimeout(killed, 15_000, 'the echo of the last update')
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' })
    expect(echoes.getText('t').toString()).toBe(EXPECTED)

    // The writer must be gone before the restart, or it could re-upload what the server lost.
    writer.ws.terminate()
    await writer.closed
    doc.destroy()

    const second = await startChild({ dataDir, env })
    // The stored meta may lag the log after a crash (it is not rewritten with every append): the
    // counts are recovered from the log, before the room is loaded, exactly.
    const before = (await (await fetch(`http://127.0.0.1:${second.port}/api/docs/crash`)).json()) as { updates: number }
    expect(before.updates).toBe(UPDATES)
    const reader = connect(second.url, 'crash')
    const seen = await atFirstSync(reader, (d) => d.getText('t').toString())
    expect(seen.length).toBe(UPDATES)
    expect(seen).toBe(EXPECTED)
    // New updates continue above the recovered seq, overwriting nothing.
    reader.doc.getText('t').insert(0, '!')
    await waitFor(async () => ((await (await fetch(`http://127.0.0.1:${second.port}/api/docs/crash`)).json()) as { updates: number }).updates === UPDATES + 1, 'the next seq')
    const again = connect(second.url, 'crash')
    expect(await atFirstSync(again, (d) => d.getText('t').toString())).toBe('!' + EXPECTED)
  })
})
