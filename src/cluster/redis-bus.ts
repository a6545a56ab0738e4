/**
 * The connection to Redis for the cluster bus: publish on one connection, subscribe on another
 * (a subscribed Redis connection can do nothing else).
 *
 * Redis pub/sub delivers in order on a live connection and drops everything while a connection
 * is down, so the bus never queues: a publish while disconnected fails at once (the caller's
 * heartbeat heads cover it), and after the subscriber reconnects it re-subscribes and tells the
 * caller to catch every document up from the store. Start-up waits for both connections, so a
 * wrong URL stops the server instead of leaving it silently alone.
 */
import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from '../logger.js'
import { decodeBusMessage, encodeBusMessage, encodeInstanceId, sentBy, type DocMessage, type InstanceMessage } from './codec.js'

export interface RedisBusOptions {
  url: string
  /** Prefix of every channel (and key) of this cluster, so clusters can share one Redis. */
  prefix: string
  connectTimeoutMs: number
  log: Logger
}

export interface BusHandlers {
  doc(name: string, message: DocMessage): void
  instance(message: InstanceMessage): void
  /** The subscriber reconnected and is subscribed again: messages may have been lost meanwhile. */
  resubscribed(): void
}

/** Reconnect quickly at first, then every 2 s, for ever: Redis coming back must heal the cluster. */
const retryStrategy = (attempt: number): number => Math.min(50 * 2 ** attempt, 2000)

export class RedisBus {
  private readonly pub: Redis
  private readonly sub: Redis
  private readonly docPrefix: string
  private readonly instancesChannel: string
  /** Documents whose channel should be subscribed (re-subscribed after a reconnect). */
  private readonly wanted = new Set<string>()
  private handlers: BusHandlers | null = null
  private self: Uint8Array = new Uint8Array(0)
  /** Connected once: from then on, connection errors are outages to report (before, open() reports). */
  private opened = false
  private lastError: Error | null = null
  private closing = false

  private constructor(private readonly options: RedisBusOptions) {
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      connectTimeout: options.connectTimeoutMs,
      maxRetriesPerRequest: 0,
      retryStrategy,
    }
    this.pub = new Redis(options.url, { ...common, connectionName: 'quire-publish' })
    this.sub = new Redis(options.url, { ...common, connectionName: 'quire-subscribe', autoResubscribe: false })
    this.docPrefix = `${options.prefix}doc:`
    this.instancesChannel = `${options.prefix}instances`
    for (const [role, connection] of [['publish', this.pub], ['subscribe', this.sub]] as const) {
      let reported = false
      // ioredis reports every failed reconnect attempt: say it once per outage.
      connection.on('error', (error: Error) => {
        this.lastError = error
        if (!this.opened) return
        if (!reported && !this.closing) options.log.warn({ err: error, role }, 'cluster bus: Redis connection lost; retrying')
        reported = true
      })
      connection.on('ready', () => {
        if (reported) options.log.info({ role }, 'cluster bus: Redis connection back')
        reported = false
      })
    }
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.deliver(channel, message))
  }

  /** Connects both connections; rejects with a one-line reason if Redis does not answer in time. */
  static async open(options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(options)
    try {
      await Promise.all([bus.pub.connect(), bus.sub.connect()])
      await bus.sub.subscribe(bus.instancesChannel)
    } catch (error) {
      bus.pub.disconnect()
      bus.sub.disconnect()
      // ioredis rejects with "Connection is closed."; the socket error before it says why.
      const reason = (bus.lastError ?? (error as Error)).message
      throw new Error(`cannot reach Redis at ${redactUrl(options.url)}: ${reason}`, { cause: error })
    }
    bus.opened = true
    // After the first connection only: later 'ready's are reconnections.
    bus.sub.on('ready', () => void bus.resubscribe())
    return bus
  }

  /** Starts delivering messages to `handlers`, except those `self` sent. */
  start(handlers: BusHandlers, self: string): void {
    this.handlers = handlers
    this.self = encodeInstanceId(self)
  }

  get connected(): boolean {
    return this.pub.status === 'ready' && this.sub.status === 'ready'
  }

  /** The publishing connection, for other users of the same Redis (the REST rate limit). */
  get client(): Redis {
    return this.pub
  }

  /** Subscribes to a document's channel; resolves true once Redis has confirmed it. */
  async subscribe(name: string): Promise<boolean> {
    this.wanted.add(name)
    try {
      await this.sub.subscribe(this.docPrefix + name)
      return true
    } catch {
      return false // disconnected: resubscribe() takes it up on reconnection
    }
  }

  unsubscribe(name: string): void {
    this.wanted.delete(name)
    this.sub.unsubscribe(this.docPrefix + name).catch(() => {})
  }

  /** Publishes on a document's channel; false if Redis could not take it. */
  publishDoc(name: string, message: DocMessage): Promise<boolean> {
    return this.publish(this.docPrefix + name, encodeBusMessage(message))
  }

  publishInstance(message: InstanceMessage): Promise<boolean> {
    return this.publish(this.instancesChannel, encodeBusMessage(message))
  }

  async close(): Promise<void> {
    this.closing = true
    await Promise.allSettled([this.pub.quit(), this.sub.quit()])
    this.pub.disconnect()
    this.sub.disconnect()
  }

  private async publish(channel: string, bytes: Uint8Array): Promise<boolean> {
    try {
      await this.pub.publish(channel, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
      return true
    } catch {
      return false
    }
  }

  private async resubscribe(): Promise<void> {
    if (this.closing) return
    const channels = [this.instancesChannel, ...[...this.wanted].map((name) => this.docPrefix + name)]
    try {
      // Redis has processed the subscriptions when this resolves: what is published from now on arrives.
      for (let i = 0; i < channels.length; i += 1000) await this.sub.subscribe(...channels.slice(i, i + 1000))
    } catch {
      return // lost again: the next 'ready' retries
    }
    this.handlers?.resubscribed()
  }

  private deliver(channel: Buffer, bytes: Buffer): void {
    if (!this.handlers || sentBy(bytes, this.self)) return
    const message = decodeBusMessage(bytes)
    if (!message) {
      this.options.log.warn({ channel: channel.toString('utf8') }, 'cluster bus: undecodable message ignored')
      return
    }
    const name = channel.toString('utf8')
    if (name.startsWith(this.docPrefix)) {
      if (message.type === 'heartbeat' || message.type === 'bye') return
      this.handlers.doc(name.slice(this.docPrefix.length), message)
    } else if (name === this.instancesChannel && (message.type === 'heartbeat' || message.type === 'bye')) {
      this.handlers.instance(message)
    }
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return 'the configured URL'
  }
}
