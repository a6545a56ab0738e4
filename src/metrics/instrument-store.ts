/**
 * Wraps a DocStore so its writes, errors and compactions are measured without the store or the
 * rooms knowing about metrics. A Proxy rather than a class, so methods the DocStore interface
 * gains later pass through untouched.
 */
import type { DocStore } from '../storage/doc-store.js'
import type { StorageMetrics } from './hooks.js'

export function instrumentStore<S extends DocStore>(store: S, metrics: StorageMetrics): S {
  const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9
  const wrapped: Partial<DocStore> = {
    load: (name) =>
      store.load(name).catch((error: unknown) => {
        metrics.storageError('load')
        throw error
      }),
    append: (name, update) => {
      const start = process.hrtime.bigint()
      return store.append(name, update).then(
        (result) => {
          metrics.storageWrite(seconds(start), update.byteLength)
          return result
        },
        (error: unknown) => {
          metrics.storageError('append')
          throw error
        },
      )
    },
    compact: (name, snapshot) =>
      store.compact(name, snapshot).then(
        () => metrics.compaction(),
        (error: unknown) => {
          metrics.storageError('compact')
          throw error
        },
      ),
  }
  const bound = new Map<PropertyKey, unknown>()
  return new Proxy(store, {
    get(target, key) {
      if (Object.hasOwn(wrapped, key)) return wrapped[key as keyof DocStore]
      const value: unknown = Reflect.get(target, key, target)
      if (typeof value !== 'function') return value
      // Methods run against the real store (private fields, `this`), not the proxy.
      if (!bound.has(key)) bound.set(key, value.bind(target))
      return bound.get(key)
    },
  })
}
