/**
 * Admin routes over change events (docs/events.md), under `<basePath>/api`, admin role when
 * authentication is on: whether they are on and how many wait in the outbox (always mounted, so
 * that the dashboard can tell "off" from a failure), and — only when they are on — the dead
 * letters, events an endpoint refused until the retry schedule ran out or answered 410 to, which
 * can be listed and sent again.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { EventOutbox, OutboxRecord } from '../storage/event-outbox.js'
import type { Guard } from './auth-hooks.js'
import { HttpError } from './errors.js'
import * as s from './schemas.js'

export interface EventsRoutesOptions {
  /** Absent: change events are off. */
  outbox?: EventOutbox
  guard?: Guard
}

const tags = ['admin']

const deadLetter = {
  type: 'object',
  required: ['sink', 'key', 'eventId', 'attempts', 'createdAt', 'event'],
  properties: {
    sink: { type: 'string', description: 'Where it was to go, e.g. `webhook:https://backend.example/hooks`' },
    key: { type: 'integer', description: 'Its place in the outbox (with `sink`, names it for redelivery)' },
    eventId: { type: 'string' },
    attempts: { type: 'integer' },
    lastError: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    event: { type: 'object', additionalProperties: true, description: 'The event as sent: type, timestamp, data' },
  },
}

const view = (record: OutboxRecord) => ({
  sink: record.sink,
  key: record.key,
  eventId: record.eventId,
  attempts: record.attempts,
  ...(record.lastError !== undefined && { lastError: record.lastError }),
  createdAt: new Date(record.createdAt).toISOString(),
  event: JSON.parse(record.body) as object,
})

const status = {
  type: 'object',
  required: ['enabled'],
  properties: {
    enabled: { type: 'boolean', description: 'Whether change events are configured (`--webhook-url`, `--nats-url`)' },
    outbox: {
      type: 'object',
      required: ['records'],
      properties: {
        records: { type: 'integer', description: 'Deliveries waiting (one per event and sink)' },
        oldestCreatedAt: { type: 'string', format: 'date-time', description: 'When the oldest waiting event was created; absent when none waits' },
      },
    },
  },
}

export const eventsRoutes: FastifyPluginAsync<EventsRoutesOptions> = async (app, { outbox, guard }) => {
  if (guard) app.addHook('onRequest', guard)

  app.get('/events', {
    config: { adminOnly: 'reading the change events\' state' },
    schema: {
      tags,
      summary: 'Whether change events are on, and their outbox',
      description: 'With change events on, how many deliveries wait in the outbox (it reads every waiting record: cheap while endpoints keep up). Needs the admin role when authentication is on.',
      response: { 200: { description: 'Their state', ...status } },
    },
  }, async () => {
    if (!outbox) return { enabled: false }
    const { records, oldestCreatedAt } = await outbox.depth()
    return { enabled: true, outbox: { records, ...(oldestCreatedAt !== null && { oldestCreatedAt: new Date(oldestCreatedAt).toISOString() }) } }
  })
  if (!outbox) return

  app.get<{ Querystring: { sink?: string; limit?: number } }>('/events/dead-letters', {
    config: { adminOnly: 'reading the dead letters' },
    schema: {
      tags,
      summary: 'Change events that could not be delivered',
      description: 'Events whose endpoint kept failing until the retry schedule ran out, or answered 410 Gone, oldest first per endpoint. Needs the admin role when authentication is on.',
      querystring: {
        type: 'object',
        properties: { sink: { type: 'string' }, limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
      },
      response: { 200: { description: 'Dead letters', type: 'array', items: deadLetter }, ...s.errors(400) },
    },
  }, async (request) => (await outbox.deadLetters(request.query.sink, request.query.limit ?? 100)).map(view))

  app.post<{ Params: { sink: string; key: number } }>('/events/dead-letters/:sink/:key/redeliver', {
    config: { adminOnly: 'redelivering an event' },
    schema: {
      tags,
      summary: 'Send a dead letter again',
      description: 'Moves the event back into the outbox, due now, with its id unchanged; its attempts start again. Needs the admin role when authentication is on.',
      params: { type: 'object', required: ['sink', 'key'], properties: { sink: { type: 'string' }, key: { type: 'integer', minimum: 1 } } },
      response: { 204: { description: 'Queued again', type: 'null' }, ...s.errors(400, 404) },
    },
  }, async (request, reply) => {
    if (!(await outbox.resurrect(request.params.sink, request.params.key))) throw new HttpError(404, 'no such dead letter')
    return reply.code(204).send()
  })
}
