/**
 * Remote cursors and selections from y-codemirror.next, re-created when a peer renames itself:
 * y-codemirror.next 0.3.6 compares caret widgets by colour only, so CodeMirror would keep
 * showing a renamed peer's old name next to its caret.
 */
import { Compartment, type Extension } from '@codemirror/state'
import type { EditorView } from '@codemirror/view'
import { YSyncConfig, ySyncFacet, yRemoteSelections, yRemoteSelectionsTheme } from 'y-codemirror.next'
import type * as Y from 'yjs'
import type { Awareness } from 'y-protocols/awareness'

const layer = new Compartment()
const carets: Extension = [yRemoteSelectionsTheme, yRemoteSelections]

/** Pair with `yCollab(ytext, null)`: this supplies the awareness config that yCollab then lacks. */
export function remoteCursors(ytext: Y.Text, awareness: Awareness): Extension {
  // ySyncFacet keeps its last value, so this config (with awareness) wins over yCollab's.
  return [ySyncFacet.of(new YSyncConfig(ytext, awareness)), layer.of(carets)]
}

/** Watches remote names; on a change, takes the caret layer out and puts a fresh one back. */
export function redrawCaretsOnRename(view: EditorView, awareness: Awareness): void {
  const names = new Map<number, string>()
  awareness.on('change', ({ updated, removed }: { updated: number[]; removed: number[] }) => {
    for (const id of removed) names.delete(id)
    let renamed = false
    for (const id of updated) {
      if (id === awareness.clientID) continue
      const name = (awareness.getStates().get(id) as { user?: { name?: string } } | undefined)?.user?.name ?? ''
      if (names.has(id) && names.get(id) !== name) renamed = true
      names.set(id, name)
    }
    if (!renamed) return
    view.dispatch({ effects: layer.reconfigure([]) })
    view.dispatch({ effects: layer.reconfigure(carets) })
  })
}
