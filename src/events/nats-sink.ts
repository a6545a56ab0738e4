/**
 * Publishes events to NATS JetStream: on `<subject>.<event type>`, with `Nats-Msg-Id` set to the
 * event's id, so JetStream drops a copy published again within its duplicate window (two minutes
 * by default) — what happens when Quire republishes after a crash. The stream is created when it
 * does not exist (capturing `<subject>.>`); an existing one is used as it is. The client is loaded
 * only when NATS is configured.
 */
import type { NatsConnection } from '@nats-io/transport-node'
import type { JetStreamClient } from '@nats-io/jetstream'
import type { Outcome, Sink } from './webhook-sink.js'

export interface NatsOptions {
  /** `nats://host:4222` (comma-separated for a cluster). */
  url: string
  /** Events go to `<subject>.<type>`, e.g. `quire.events.document.updated`. */
  subject: string
  /** The JetStream stream that captures them; created if missing. */
  stream: string
  timeoutMs: number
}

export class NatsSink implements Sink {
  readonly name: string

  private constructor(
    private readonly options: NatsOptions,
    private readonly connection: NatsConnection,
    private readonly js: JetStreamClient,
  ) {
    this.name = `nats:${options.subject}`
  }

  static async open(options: NatsOptions): Promise<NatsSink> {
    const [{ connect }, { jetstream, jetstreamManager }] = await Promise.all([import('@nats-io/transport-node'), import('@nats-io/jetstream')])
    const connection = await connect({ servers: options.url.split(','), timeout: options.timeoutMs, maxReconnectAttempts: -1 })
    try {
      const manager = await jetstreamManager(connection)
      const subjects = `${options.subject}.>`
      try {
        await manager.streams.info(options.stream)
      } catch {
        await manager.streams.add({ name: options.stream, subjects: [subjects] })
      }
    } catch (error) {
      await connection.close()
      throw new Error(`NATS JetStream at ${options.url}: ${(error as Error).message}`, { cause: error })
    }
    return new NatsSink(options, connection, jetstream(connection, { timeout: options.timeoutMs }))
  }

  async deliver(eventId: string, body: string): Promise<Outcome> {
    const type = (JSON.parse(body) as { type: string }).type
    try {
      await this.js.publish(`${this.options.subject}.${type}`, body, { msgID: eventId })
      return { kind: 'delivered' } // a duplicate JetStream already had is delivered too
    } catch (error) {
      return { kind: 'retry', error: (error as Error).message, retryAfterMs: null }
    }
  }

  async close(): Promise<void> {
    await this.connection.drain().catch(() => this.connection.close())
  }
}
