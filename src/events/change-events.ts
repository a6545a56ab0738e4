/**
 * The change events Quire tells integrators about (docs/events.md). Payloads are small — names,
 * seq ranges, who changed it — never document content, request headers or tokens: a receiver
 * fetches what changed over the REST API (a diff against the state vector it has).
 */
import { randomBytes } from 'node:crypto'
import type { Peer } from '../room/peer.js'

/** Sent unless `events` (`--webhook-events`) says otherwise. */
export const DEFAULT_EVENT_TYPES = ['document.created', 'document.updated', 'document.deleted', 'version.created', 'version.restored'] as const
/**
 * Sent only when named: one durable write per connection opened and closed is a cost a busy
 * server should not pay for receivers that did not ask for them.
 */
export const OPT_IN_EVENT_TYPES = ['connection.opened', 'connection.closed'] as const
export const EVENT_TYPES = [...DEFAULT_EVENT_TYPES, ...OPT_IN_EVENT_TYPES] as const
export type EventType = (typeof EVENT_TYPES)[number]

/** Who made the changes an event covers. */
export interface ChangeOrigins {
  /** Authenticated subjects of the connections that edited (none when authentication is off). */
  subjects: string[]
  /** Connections that edited, by their log ids. */
  connections: number
  /** Whether the REST API (or a restore) edited. */
  rest: boolean
  /** Changes found after a restart, whose origins were not recorded. */
  recovered?: boolean
}

export interface EventData {
  name: string
  /** The updates covered: seq fromSeq..toSeq (document.created and document.updated). */
  fromSeq?: number
  toSeq?: number
  origins?: ChangeOrigins
  /** version.*: the version as the versions API names it. */
  version?: { id: number; label: string }
  /**
   * version.created: every update up to this seq is in the version; version.restored: the seq of
   * the edit that restored it (or the last one, when the document equalled the version already).
   */
  seq?: number
  /** version.* and connection.*: the token's `sub` of who did it, when authentication is on. */
  subject?: string
  /** connection.*: the connection's id (the `conn` of its log lines) and what carries it. */
  connection?: string
  transport?: NonNullable<Peer['transport']>
  /** connection.closed: time from joining the document to leaving it, and the close code. */
  durationMs?: number
  closeCode?: number
}

export interface ChangeEvent {
  id: string
  type: EventType
  /** ISO time the event was created. */
  timestamp: string
  data: EventData
}

/**
 * `evt_` + 12 hex digits of milliseconds + 12 random hex digits: sortable by creation time and
 * unique without coordination between instances.
 */
export function newEventId(now = Date.now()): string {
  return `evt_${now.toString(16).padStart(12, '0')}${randomBytes(6).toString('hex')}`
}

export function newEvent(type: EventType, data: EventData, now = Date.now()): ChangeEvent {
  return { id: newEventId(now), type, timestamp: new Date(now).toISOString(), data }
}

/** The body as sent and signed (Standard Webhooks: type, timestamp, data). */
export function eventBody(event: ChangeEvent): string {
  return JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data })
}
