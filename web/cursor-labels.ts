/**
 * Remote name labels show while the pointer is over a caret (CSS :hover) and for a moment after
 * that caret moved, as editors usually do: labels that always show cover the line above and
 * hide what is written there. y-codemirror.next draws the labels; this plugin only marks the
 * ones to show, after each redraw, since CodeMirror may re-create their DOM at any update.
 */
import { ViewPlugin, type EditorView } from '@codemirror/view'
import type { Awareness } from 'y-protocols/awareness'

/** How long a label stays after its caret moved. */
export const LABEL_MS = 2000
/** The class editor-theme.ts shows a label with. */
export const ACTIVE_LABEL = 'cm-ySelectionInfo-active'

interface PeerState {
  cursor?: unknown
  user?: { name?: unknown }
}

export function labelsAfterMoves(awareness: Awareness, showMs = LABEL_MS) {
  return ViewPlugin.define((view) => new MovedLabels(view, awareness, showMs))
}

class MovedLabels {
  /** Until when (epoch ms) each name's label shows. By name: it is all a label's DOM says. */
  private readonly until = new Map<string, number>()
  /** Each remote client's last cursor, to tell a move from other presence changes (a rename, a heartbeat). */
  private readonly cursors = new Map<number, string>()
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly view: EditorView,
    private readonly awareness: Awareness,
    private readonly showMs: number,
  ) {
    awareness.on('change', this.onChange)
  }

  /** CodeMirror redrew: mark the labels again once its DOM is written. */
  update(): void {
    this.remark()
  }

  destroy(): void {
    this.awareness.off('change', this.onChange)
    clearTimeout(this.timer)
  }

  private readonly onChange = ({ added, updated, removed }: { added: number[]; updated: number[]; removed: number[] }): void => {
    const now = Date.now()
    for (const id of removed) this.cursors.delete(id)
    for (const id of [...added, ...updated]) {
      if (id === this.awareness.clientID) continue
      const state = this.awareness.getStates().get(id) as PeerState | undefined
      const cursor = JSON.stringify(state?.cursor ?? null)
      if (this.cursors.get(id) === cursor) continue
      this.cursors.set(id, cursor)
      // y-codemirror.next labels a peer without a name "Anonymous".
      if (state?.cursor) this.until.set(typeof state.user?.name === 'string' ? state.user.name : 'Anonymous', now + this.showMs)
    }
    this.remark()
  }

  private remark(): void {
    this.view.requestMeasure({ key: this, read: () => null, write: () => this.mark() })
  }

  /** Shows the labels of recent moves, hides the rest, and comes back when the next one is due to go. */
  private mark(): void {
    const now = Date.now()
    for (const [name, until] of this.until) if (until <= now) this.until.delete(name)
    for (const label of this.view.contentDOM.querySelectorAll('.cm-ySelectionInfo')) {
      label.classList.toggle(ACTIVE_LABEL, this.until.has(label.textContent ?? ''))
    }
    clearTimeout(this.timer)
    this.timer = undefined
    if (this.until.size > 0) this.timer = setTimeout(() => this.remark(), Math.min(...this.until.values()) - now + 10)
  }
}
