/**
 * Tells, before an update is applied, whether Yjs could integrate it into a document completely.
 *
 * Yjs does not refuse an update that depends on changes a document lacks: it integrates what it
 * can and keeps the rest in `doc.store.pendingStructs` / `pendingDs`, waiting for the missing
 * changes. A server must not hold such content (it is exported but never stored, relayed or
 * counted), so updates are judged here first.
 *
 * The judgement replays Yjs 13.6's own decisions rather than approximating them:
 * - the struct section is read the way `readClientsStructRefs` (yjs/src/utils/encoding.js) reads
 *   it, including its quirk that a client appearing in a second block replaces the first block;
 * - the integration order of `integrateStructs` is followed (clients by descending id, a missing
 *   dependency on client X continues with X's next struct), tracking only each client's clock;
 * - the delete set is judged as `readAndApplyDeleteSet` (yjs/src/utils/DeleteSet.js) would after
 *   the structs are in.
 * Because the replay is exact, dependency cycles between clients inside one update (which Yjs
 * cannot integrate in any order) are reported too. The room still discards whatever Yjs leaves
 * pending after applying, as a safety net against a future Yjs that decides differently;
 * test/dependencies.test.ts checks every verdict against Yjs itself, so an upgrade that changes
 * these rules shows there.
 *
 * Nothing is decoded beyond what is needed to know each struct's clock range and references:
 * content is skipped, except strings, whose length in UTF-16 units is their clock length.
 */
import * as Y from 'yjs'
import * as decoding from 'lib0/decoding'

// Low five bits of a struct's info byte; see the table at the top of yjs/src/utils/encoding.js.
const GC_REF = 0
const SKIP_REF = 10
const HAS_ORIGIN = 0b1000_0000
const HAS_RIGHT_ORIGIN = 0b0100_0000
const HAS_PARENT_SUB = 0b0010_0000
const CONTENT_BITS = 0b0001_1111

const enum Kind { GC, Item, Skip }

/** What integration needs to know about one struct. A client of -1 means "no such reference". */
interface Struct {
  kind: Kind
  client: number
  clock: number
  length: number
  originClient: number
  originClock: number
  rightClient: number
  rightClock: number
  parentClient: number
  parentClock: number
}

/** A client's structs in this update, and how far integration got (like Yjs' `{ i, refs }`). */
interface Block {
  i: number
  refs: Struct[]
}

/**
 * Returns null when `Y.applyUpdate(doc, update)` would integrate `update` (format v1) completely,
 * leaving `doc.store.pendingStructs` and `pendingDs` null; otherwise a short reason, e.g.
 * "structs of client 123 start at clock 10 but the document has 4".
 *
 * Non-null also covers the two well-formed updates on which Yjs throws half-way (after
 * integrating part of them) instead of keeping anything pending: an item referring to a clock
 * its own client has not written, and an empty delete range at or past a client's clock.
 *
 * Assumes `doc` holds no pending content itself (the room's invariant). Pure: `doc` is only read.
 * Does not validate content (JSON, type references beyond their length…): callers check the
 * update with `Y.decodeUpdate` first. Throws if the struct or delete-set framing is malformed.
 */
export function missingDependency(doc: Y.Doc, update: Uint8Array): string | null {
  const decoder = decoding.createDecoder(update)
  const blocks = readBlocks(decoder)
  const state = new Map<number, number>()
  const stateOf = (client: number): number => {
    let clock = state.get(client)
    if (clock === undefined) {
      clock = Y.getState(doc.store, client)
      state.set(client, clock)
    }
    return clock
  }
  const structsMissing = blocks === null ? null : integrate(blocks, stateOf, state)
  if (structsMissing !== null) return structsMissing
  return deletesMissing(decoder, stateOf)
}

/** Reads the struct section; null when it has no structs. Mirrors `readClientsStructRefs`. */
function readBlocks(decoder: decoding.Decoder): Map<number, Block> | null {
  const numberOfBlocks = decoding.readVarUint(decoder)
  if (numberOfBlocks === 0) return null
  const blocks = new Map<number, Block>()
  for (let b = 0; b < numberOfBlocks; b++) {
    const numberOfStructs = decoding.readVarUint(decoder)
    const client = decoding.readVarUint(decoder)
    let clock = decoding.readVarUint(decoder)
    // Not preallocated: the count is the sender's claim, the bytes that follow are the truth.
    const refs: Struct[] = []
    // Yjs does the same: a later block of the same client replaces the earlier one entirely.
    blocks.set(client, { i: 0, refs })
    for (let s = 0; s < numberOfStructs; s++) {
      const struct = readStruct(decoder, client, clock)
      refs.push(struct)
      clock += struct.length
    }
  }
  return blocks
}

function readStruct(decoder: decoding.Decoder, client: number, clock: number): Struct {
  const struct: Struct = {
    kind: Kind.Item,
    client,
    clock,
    length: 0,
    originClient: -1,
    originClock: 0,
    rightClient: -1,
    rightClock: 0,
    parentClient: -1,
    parentClock: 0,
  }
  const info = decoding.readUint8(decoder)
  const ref = info & CONTENT_BITS
  if (ref === GC_REF || ref === SKIP_REF) {
    struct.kind = ref === GC_REF ? Kind.GC : Kind.Skip
    struct.length = decoding.readVarUint(decoder)
    return struct
  }
  if ((info & HAS_ORIGIN) !== 0) {
    struct.originClient = decoding.readVarUint(decoder)
    struct.originClock = decoding.readVarUint(decoder)
  }
  if ((info & HAS_RIGHT_ORIGIN) !== 0) {
    struct.rightClient = decoding.readVarUint(decoder)
    struct.rightClock = decoding.readVarUint(decoder)
  }
  if ((info & (HAS_ORIGIN | HAS_RIGHT_ORIGIN)) === 0) {
    // Without origins the parent is written: a root type's name, or the ID of the type's item.
    if (decoding.readVarUint(decoder) === 1) {
      skipString(decoder)
    } else {
      struct.parentClient = decoding.readVarUint(decoder)
      struct.parentClock = decoding.readVarUint(decoder)
    }
    if ((info & HAS_PARENT_SUB) !== 0) skipString(decoder)
  }
  struct.length = contentLength(decoder, ref)
  return struct
}

/** Skips an item's content, returning its length in clock units (AbstractContent.getLength). */
function contentLength(decoder: decoding.Decoder, ref: number): number {
  switch (ref) {
    case 1: // ContentDeleted
      return decoding.readVarUint(decoder)
    case 2: { // ContentJSON: one string per element
      const count = decoding.readVarUint(decoder)
      for (let i = 0; i < count; i++) skipString(decoder)
      return count
    }
    case 3: // ContentBinary
    case 5: // ContentEmbed (JSON string)
      skipString(decoder)
      return 1
    case 4: // ContentString
      return stringLength(decoder)
    case 6: // ContentFormat: key and JSON value
      skipString(decoder)
      skipString(decoder)
      return 1
    case 7: { // ContentType: XmlElement (3) and XmlHook (5) carry a name
      const typeRef = decoding.readVarUint(decoder)
      if (typeRef === 3 || typeRef === 5) skipString(decoder)
      else if (typeRef > 6) throw new Error(`unknown type reference ${typeRef}`)
      return 1
    }
    case 8: { // ContentAny
      const count = decoding.readVarUint(decoder)
      for (let i = 0; i < count; i++) decoding.readAny(decoder)
      return count
    }
    case 9: // ContentDoc: guid and options
      skipString(decoder)
      decoding.readAny(decoder)
      return 1
    default: // Yjs has no reader for these and throws as well
      throw new Error(`unknown content reference ${ref}`)
  }
}

/**
 * The UTF-16 length of a length-prefixed UTF-8 string. ASCII (most typing) is counted in place;
 * anything else is decoded the way Yjs decodes it, so even invalid UTF-8 gets the length Yjs
 * will give it. (TextDecoder costs about a microsecond even for one character.)
 */
function stringLength(decoder: decoding.Decoder): number {
  const start = decoder.pos
  const length = decoding.readVarUint(decoder)
  const from = decoder.pos
  skip(decoder, length)
  const arr = decoder.arr
  for (let i = from; i < decoder.pos; i++) {
    if (arr[i]! >= 0x80) {
      decoder.pos = start
      return decoding.readVarString(decoder).length
    }
  }
  return length
}

/** Skips a length-prefixed string or byte array (what readVarString would consume). */
function skipString(decoder: decoding.Decoder): void {
  skip(decoder, decoding.readVarUint(decoder))
}

/**
 * Advances past `length` bytes without making a view of them. Stricter than lib0, which only
 * fails past the end of the underlying ArrayBuffer: callers pass updates that own their buffer.
 */
function skip(decoder: decoding.Decoder, length: number): void {
  if (length > decoder.arr.length - decoder.pos) throw new Error('unexpected end of update')
  decoder.pos += length
}

/**
 * Replays `integrateStructs` on clocks alone. Yjs moves the first struct it cannot integrate
 * (and every struct waiting for it) to pendingStructs, so the first such struct is the answer.
 */
function integrate(
  blocks: Map<number, Block>,
  stateOf: (client: number) => number,
  state: Map<number, number>,
): string | null {
  // Yjs integrates the highest client id first and takes ids from the end of this list.
  const ids = [...blocks.keys()].sort((a, b) => a - b)
  const nextTarget = (): Block | null => {
    while (ids.length > 0) {
      const block = blocks.get(ids[ids.length - 1]!)!
      if (block.i < block.refs.length) return block
      ids.pop()
    }
    return null
  }
  let current = nextTarget()
  if (current === null) return null
  // Structs waiting for a struct of another client that appears later in this update.
  const stack: Struct[] = []
  let head = current.refs[current.i++]!
  for (;;) {
    if (head.kind !== Kind.Skip) {
      const have = stateOf(head.client)
      if (head.clock > have) {
        // Only this client's own block moves its clock, so at its first struct `have` is the document's.
        if (head === blocks.get(head.client)!.refs[0]) {
          return `structs of client ${head.client} start at clock ${head.clock} but the document has ${have}`
        }
        return `structs of client ${head.client} resume after a gap at clock ${head.clock}; document and update reach ${have}`
      }
      const missing = head.kind === Kind.Item ? missingReference(head, stateOf) : Ref.None
      if (typeof missing === 'string') return missing
      if (missing !== Ref.None) {
        stack.push(head)
        const [client, clock] = reference(head, missing)
        const provider = blocks.get(client)
        if (provider === undefined || provider.i === provider.refs.length) {
          return `item ${head.client}:${head.clock} needs its ${REF_NAMES[missing]} ${client}:${clock}; document and update reach ${client}:${stateOf(client)}`
        }
        head = provider.refs[provider.i++]!
        continue
      }
      const offset = have - head.clock
      // Already-known structs are skipped; a partly known one integrates its new tail.
      if (offset === 0 || offset < head.length) state.set(head.client, head.clock + head.length)
    }
    if (stack.length > 0) {
      head = stack.pop()!
    } else if (current !== null && current.i < current.refs.length) {
      head = current.refs[current.i++]!
    } else {
      current = nextTarget()
      if (current === null) return null
      head = current.refs[current.i++]!
    }
  }
}

const enum Ref { None, Origin, RightOrigin, Parent }
const REF_NAMES = ['', 'origin', 'right origin', 'parent'] as const

function reference(item: Struct, ref: Ref): [client: number, clock: number] {
  if (ref === Ref.Origin) return [item.originClient, item.originClock]
  if (ref === Ref.RightOrigin) return [item.rightClient, item.rightClock]
  return [item.parentClient, item.parentClock]
}

/**
 * Item.getMissing: the first reference to another client's clock the document does not have yet
 * (Yjs then looks for it further in the update), or a reason when a reference to the item's own
 * client points at or past its current clock (Yjs then throws: the struct store lookup fails).
 */
function missingReference(item: Struct, stateOf: (client: number) => number): Ref | string {
  const own = item.client
  // Same order as Yjs: origin, right origin, parent. Which client is reported decides where
  // Yjs looks next, so the order matters for updates with several missing references.
  if (item.originClient !== -1 && item.originClient !== own && item.originClock >= stateOf(item.originClient)) {
    return Ref.Origin
  }
  if (item.rightClient !== -1 && item.rightClient !== own && item.rightClock >= stateOf(item.rightClient)) {
    return Ref.RightOrigin
  }
  if (item.parentClient !== -1 && item.parentClient !== own && item.parentClock >= stateOf(item.parentClient)) {
    return Ref.Parent
  }
  const have = stateOf(own)
  const ownRef =
    item.originClient === own && item.originClock >= have ? Ref.Origin
    : item.rightClient === own && item.rightClock >= have ? Ref.RightOrigin
    : item.parentClient === own && item.parentClock >= have ? Ref.Parent
    : Ref.None
  if (ownRef === Ref.None) return Ref.None
  const [, clock] = reference(item, ownRef)
  return `item ${own}:${item.clock} has its ${REF_NAMES[ownRef]} at ${own}:${clock}, which its client has not written yet`
}

/** Mirrors readAndApplyDeleteSet: every range must lie below its client's clock after the structs. */
function deletesMissing(decoder: decoding.Decoder, stateOf: (client: number) => number): string | null {
  const numberOfClients = decoding.readVarUint(decoder)
  for (let c = 0; c < numberOfClients; c++) {
    const client = decoding.readVarUint(decoder)
    const numberOfDeletes = decoding.readVarUint(decoder)
    for (let d = 0; d < numberOfDeletes; d++) {
      const clock = decoding.readVarUint(decoder)
      const end = clock + decoding.readVarUint(decoder)
      const have = stateOf(client)
      // Yjs keeps the part past `have` pending, and a range starting at or past it even when empty.
      if (clock >= have || end > have) {
        return `deletes clocks [${clock}, ${end}) of client ${client}; document and update reach ${have}`
      }
    }
  }
  return null
}
