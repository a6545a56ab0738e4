/**
 * "When did the content arrive?" — independent of when the handshake said "synced". The reference
 * server answers a client of a document it has not loaded yet from an empty document and sends the
 * stored content later as an ordinary update, so "synced" and "content present" differ there.
 */

/**
 * Watches a BenchClient's Y.Text from now on and records the first moment `check(text)` holds
 * (checked after each applied update, and once right away).
 * @param {import('./client.mjs').BenchClient} client
 * @param {(text: import('yjs').Text) => boolean} check
 */
export function watchContent(client, check) {
  let presentAt = 0
  let waiter = null
  const test = () => {
    if (presentAt || client.doc.isDestroyed) return
    if (check(client.text)) {
      presentAt = performance.now()
      client.doc.off('update', test)
      waiter?.()
    }
  }
  client.doc.on('update', test)
  test()
  return {
    /** performance.now() when the content was first present, 0 if not yet. */
    get presentAt() {
      return presentAt
    },
    /** Resolves true once present, false after `timeoutMs`. */
    until(timeoutMs) {
      if (presentAt) return Promise.resolve(true)
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiter = null
          client.doc.off('update', test)
          resolve(false)
        }, timeoutMs)
        waiter = () => {
          clearTimeout(timer)
          resolve(true)
        }
      })
    },
  }
}

/** A check for watchContent: the text equals `expected` (length compared first: cheap). */
export const textEquals = (expected) => (text) => text.length === expected.length && text.toString() === expected

/** Polls `check` every `pollMs` until it returns true (→ true) or `timeoutMs` passed (→ false). */
export async function waitUntil(check, timeoutMs, pollMs = 10) {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    if (check()) return true
    if (performance.now() > deadline) return false
    await new Promise((r) => setTimeout(r, pollMs))
  }
}
