/**
 * Whether the person at this page may type. Locked, the editor still shows every change
 * live but takes no input: for a read-only token (the server would drop the edits without a
 * word) and after the server refused the connection (the edits could never be saved).
 */
import { Compartment, EditorState, type Extension } from '@codemirror/state'
import { EditorView } from '@codemirror/view'

const lock = new Compartment()
const locked: Extension = [EditorState.readOnly.of(true), EditorView.editable.of(false)]

/** The extension to create the editor with; it starts locked until the page knows it may write. */
export function editLock(startLocked = true): Extension {
  return lock.of(startLocked ? locked : [])
}

export function isLocked(view: EditorView): boolean {
  return view.state.readOnly
}

export function setLocked(view: EditorView, on: boolean): void {
  if (isLocked(view) === on) return
  view.dispatch({ effects: lock.reconfigure(on ? locked : []) })
}
