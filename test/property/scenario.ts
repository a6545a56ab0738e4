/**
 * What a property run does: the generated scenario (which clients on which documents, whether
 * monitors watch, COMPACT_AFTER_UPDATES, and a list of actions) and how each action is applied
 * to the world. Kept apart from convergence.test.ts so that the test reads as the property.
 * Every generated value prints readably, so a counterexample reads as a script.
 */
import fc from 'fast-check'
import type { Client } from './clients.js'
import type { World } from './world.js'

export type Action =
  | { kind: 'insert'; client: number; at: number; text: string }
  | { kind: 'delete'; client: number; at: number; length: number }
  | { kind: 'type'; client: number; at: number; count: number }
  | { kind: 'set'; client: number; key: string; value: number | string }
  | { kind: 'unset'; client: number; key: string }
  | { kind: 'disconnect'; client: number }
  | { kind: 'reconnect'; client: number }
  | { kind: 'reconnect typing'; client: number; at: number }
  | { kind: 'settle' }
  | { kind: 'restart'; signal: 'SIGTERM' | 'SIGKILL' | 'SIGKILL at next echo' }

/** Gives a generated value the readable form fast-check prints in counterexamples. */
function shown<T extends object>(value: T, text: string): T {
  return Object.assign(value, { [fc.toStringMethod]: () => text })
}

const client = fc.nat(3)
const key = fc.constantFrom('a', 'b', 'c')
const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .record({ client, at: fc.nat(100), text: fc.string({ unit: fc.constantFrom(...'abcxyz é'), minLength: 1, maxLength: 4 }) })
      .map(({ client, at, text }) => shown({ kind: 'insert' as const, client, at, text }, `c${client}.insert(${at}%, ${JSON.stringify(text)})`)),
  },
  {
    // One character per transaction: a burst of small updates, sent in one go.
    weight: 2,
    arbitrary: fc
      .record({ client, at: fc.nat(100), count: fc.integer({ min: 10, max: 150 }) })
      .map(({ client, at, count }) => shown({ kind: 'type' as const, client, at, count }, `c${client}.type(${at}%, ${count} chars)`)),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ client, at: fc.nat(100), length: fc.integer({ min: 1, max: 4 }) })
      .map(({ client, at, length }) => shown({ kind: 'delete' as const, client, at, length }, `c${client}.delete(${at}%, ${length})`)),
  },
  {
    weight: 3,
    arbitrary: fc
      .record({ client, key, value: fc.oneof(fc.nat(99), fc.constantFrom('x', 'yy')) })
      .map(({ client, key, value }) => shown({ kind: 'set' as const, client, key, value }, `c${client}.set(${key}, ${JSON.stringify(value)})`)),
  },
  {
    weight: 1,
    arbitrary: fc.record({ client, key }).map(({ client, key }) => shown({ kind: 'unset' as const, client, key }, `c${client}.unset(${key})`)),
  },
  { weight: 2, arbitrary: client.map((client) => shown({ kind: 'disconnect' as const, client }, `c${client}.disconnect()`)) },
  { weight: 2, arbitrary: client.map((client) => shown({ kind: 'reconnect' as const, client }, `c${client}.reconnect()`)) },
  {
    weight: 1,
    arbitrary: fc
      .record({ client, at: fc.nat(100) })
      .map(({ client, at }) => shown({ kind: 'reconnect typing' as const, client, at }, `c${client}.reconnectTyping(${at}%)`)),
  },
  { weight: 1, arbitrary: fc.constant(null).map(() => shown({ kind: 'settle' as const }, 'settle()')) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('SIGTERM' as const, 'SIGKILL' as const, 'SIGKILL at next echo' as const)
      .map((signal) => shown({ kind: 'restart' as const, signal }, `restart(${signal})`)),
  },
)

export interface Scenario {
  /** Client n edits document `placement[n] % docs`; the clients are c0…cMax of the actions (at least c0, c1). */
  docs: number
  placement: number[]
  /** A provider that never edits, in every room for a whole server life: it sees every append. */
  monitor: boolean
  compactAfterUpdates: number
  actions: Action[]
}

export const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    docs: fc.integer({ min: 1, max: 2 }),
    placement: fc.array(fc.nat(1), { minLength: 4, maxLength: 4 }),
    monitor: fc.boolean(),
    compactAfterUpdates: fc.constantFrom(1000, 3),
    actions: fc.array(action, { minLength: 5, maxLength: 25 }),
  })
  .map((s) => {
    const clients = clientCount(s)
    const placement = s.placement.slice(0, clients).map((p) => p % s.docs)
    const text =
      `{ clients: ${placement.map((p, n) => `c${n}→doc${p}`).join(' ')}, monitor: ${s.monitor}, COMPACT_AFTER_UPDATES: ${s.compactAfterUpdates},\n` +
      `  actions: ${s.actions.map((a) => fc.stringify(a)).join('; ')} }`
    return shown({ ...s, placement }, text)
  })

function clientCount(s: { actions: Action[] }): number {
  return Math.max(2, ...s.actions.map((a) => ('client' in a ? a.client + 1 : 0)))
}

// ---------------------------------------------------------------------------------------------
// Applying one

export async function apply(world: World, a: Action): Promise<void> {
  const c: Client | undefined = 'client' in a ? world.clients.list[a.client] : undefined
  switch (a.kind) {
    case 'insert': {
      const text = c!.doc.getText('t')
      text.insert(Math.round((a.at / 100) * text.length), a.text)
      break
    }
    case 'type': {
      const text = c!.doc.getText('t')
      let index = Math.round((a.at / 100) * text.length)
      for (let n = 0; n < a.count; n++) text.insert(index++, String.fromCharCode(97 + (n % 26)))
      break
    }
    case 'delete': {
      const text = c!.doc.getText('t')
      if (text.length === 0) break
      const index = Math.min(Math.floor((a.at / 100) * text.length), text.length - 1)
      text.delete(index, Math.min(a.length, text.length - index))
      break
    }
    case 'set':
      c!.doc.getMap('m').set(a.key, a.value)
      break
    case 'unset':
      c!.doc.getMap('m').delete(a.key)
      break
    case 'disconnect':
      world.clients.disconnect(c!)
      break
    case 'reconnect':
      await world.clients.reconnect(c!)
      break
    case 'reconnect typing':
      await world.clients.reconnectTyping(c!, a.at)
      break
    case 'settle':
      // A quiet point: the size and metric equalities must hold here too, not only at the end.
      await world.settle()
      await world.checkAccounting()
      break
    case 'restart':
      if (a.signal === 'SIGKILL at next echo') await world.crashAtNextEcho()
      else await world.restart(a.signal)
      break
  }
}
