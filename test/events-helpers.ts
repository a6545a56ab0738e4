/**
 * A real webhook receiver for the change-event tests: an HTTP server that verifies every delivery
 * with the Standard Webhooks library, can refuse the first attempts (500) or answer a fixed
 * status (410 to bury events), and records what it accepted, each webhook-id once.
 */
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import { expect } from 'vitest'
import { connect, synced, waitFor, type TestServer } from './helpers.js'

export interface Received {
  id: string
  type: string
  data: {
    name: string
    fromSeq?: number
    toSeq?: number
    origins?: { rest: boolean; connections: number; recovered?: boolean }
    version?: { id: number; label: string }
    seq?: number
    subject?: string
    connection?: string
    transport?: string
    durationMs?: number
    closeCode?: number
  }
}

export interface Receiver {
  url: string
  secret: string
  /** Accepted deliveries, in arrival order (each id once: later duplicates are counted, not kept). */
  events: Received[]
  attempts: Map<string, number>
  /** Every verified attempt in arrival order: its id, the request's path and query, and when. */
  arrivals: Array<{ id: string; url: string; at: number }>
  duplicates: number
  badSignatures: number
  /** Refuse the first `n` attempts of every event with 500. */
  failFirst: number
  /** Leave the first `n` attempts of every event unanswered (an endpoint that hangs), before failFirst. */
  hold: number
  /** Answer every verified delivery with this status instead (e.g. 410); null: accept. */
  answer: number | null
  close(): Promise<void>
}

const receivers: Receiver[] = []

/** Closes every receiver started so far. Call in afterEach. */
export async function closeReceivers(): Promise<void> {
  for (const receiver of receivers.splice(0)) await receiver.close()
}

export async function startReceiver(failFirst = 0, at: { port?: number; secret?: string } = {}): Promise<Receiver> {
  const secret = at.secret ?? `whsec_${randomBytes(32).toString('base64')}`
  const verifier = new Webhook(secret)
  const receiver: Receiver = { url: '', secret, events: [], attempts: new Map(), arrivals: [], duplicates: 0, badSignatures: 0, failFirst, hold: 0, answer: null, close: async () => {} }
  const server: Server = createServer((request, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
    request.on('end', () => {
      let payload: Omit<Received, 'id'>
      try {
        payload = verifier.verify(body, request.headers as Record<string, string>) as Omit<Received, 'id'>
      } catch {
        receiver.badSignatures++
        response.writeHead(400).end()
        return
      }
      const id = String(request.headers['webhook-id'])
      const attempt = (receiver.attempts.get(id) ?? 0) + 1
      receiver.attempts.set(id, attempt)
      receiver.arrivals.push({ id, url: request.url ?? '', at: Date.now() })
      if (attempt <= receiver.hold) return // the sender gives up (timeout) or dies
      if (receiver.answer !== null) {
        response.writeHead(receiver.answer).end()
        return
      }
      if (attempt <= receiver.failFirst) {
        response.writeHead(500).end()
        return
      }
      if (receiver.events.some((e) => e.id === id)) receiver.duplicates++
      else receiver.events.push({ id, ...payload })
      response.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(at.port ?? 0, '127.0.0.1', resolve))
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/quire`
  receiver.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections() // held requests would keep it open
      if (server.listening) server.close(() => resolve())
      else resolve()
    })
  receivers.push(receiver)
  return receiver
}

/** Short timings, so that a test sees debounces fire and retries run out within a second or two. */
export const fast = { debounce: { quietMs: 100, maxMs: 1000 }, retrySchedule: [100, 100, 100, 100], dispatch: { pollMs: 50 } }

/** The webhook options of `changeEvents` for one receiver. */
export const webhookTo = (receiver: Receiver) => ({ webhooks: [{ url: receiver.url, secrets: [receiver.secret] }] })

/** The events of `type` the receiver accepted. */
export const ofType = (receiver: Receiver, type: string) => receiver.events.filter((e) => e.type === type)

/**
 * A client creates and edits `notes` on `server`, then REST deletes it; waits for each event and
 * checks them: consecutive ranges, signed, every event accepted after `failFirst` refusals, once.
 */
export async function expectCreatedUpdatedDeleted(server: TestServer, receiver: Receiver): Promise<void> {
  const editor = connect(server.url, 'notes')
  await synced(editor)
  editor.doc.getText('t').insert(0, 'hello')
  await waitFor(() => ofType(receiver, 'document.created').length > 0, 'document.created', 5000)
  editor.doc.getText('t').insert(5, ' world')
  await waitFor(() => ofType(receiver, 'document.updated').length > 0, 'document.updated', 5000)
  const response = await fetch(`http://127.0.0.1:${server.port}/api/docs/notes`, { method: 'DELETE' })
  expect(response.status).toBe(204)
  await waitFor(() => ofType(receiver, 'document.deleted').length > 0, 'document.deleted', 5000)

  const [created, updated, deleted] = receiver.events
  expect(created).toMatchObject({ type: 'document.created', data: { name: 'notes', fromSeq: 1, origins: { rest: false, connections: 1 } } })
  expect(updated).toMatchObject({ type: 'document.updated', data: { name: 'notes', fromSeq: created!.data.toSeq! + 1 } })
  expect(deleted).toMatchObject({ type: 'document.deleted', data: { name: 'notes' } })
  for (const event of receiver.events) expect(receiver.attempts.get(event.id)).toBe(receiver.failFirst + 1)
  expect(receiver.badSignatures).toBe(0)
  expect(receiver.duplicates).toBe(0)
}
