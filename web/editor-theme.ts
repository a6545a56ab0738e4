/** CodeMirror styling for the demo: a document-like sheet, and remote name tags that show when they matter. */
import { EditorView } from '@codemirror/view'

export const editorTheme = EditorView.theme({
  '&': { height: '100%', fontSize: '16px', color: 'var(--ink)', backgroundColor: 'transparent' },
  '&.cm-focused': { outline: 'none' },
  '.cm-scroller': { fontFamily: 'var(--font-text)', lineHeight: '1.7', padding: '18px 0 48px' },
  '.cm-content': { padding: '0 28px 0 8px', caretColor: 'var(--me, var(--accent))' },
  '.cm-gutters': { backgroundColor: 'transparent', border: 'none', color: 'var(--faint)', paddingLeft: '12px' },
  '.cm-lineNumbers .cm-gutterElement': { fontFamily: 'var(--font-mono)', fontSize: '12px', paddingTop: '3px', minWidth: '28px' },
  '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'transparent', color: 'var(--muted)' },
  // Out of the flow (absolute, left at its static place) so a remote caret in an empty document
  // sits at the start of the line instead of after the placeholder text.
  '.cm-placeholder': { color: 'var(--faint)', fontStyle: 'italic', position: 'absolute', pointerEvents: 'none' },
  '&.cm-focused .cm-selectionBackground, .cm-selectionBackground': { backgroundColor: 'var(--selection) !important' },
  // My caret in my own colour, the one the others see.
  '.cm-cursor': { borderLeftColor: 'var(--me, var(--accent))', borderLeftWidth: '2px' },
  // Remote names show on hover and for a moment after the caret moved (cursor-labels.ts): a label
  // that always shows covers the line above. Hidden ones take no pointer events, so the text under
  // them stays clickable; visibility (not only opacity) so that hidden means hidden to tools too.
  '.cm-ySelectionInfo': {
    opacity: '0',
    visibility: 'hidden',
    pointerEvents: 'none',
    transition: 'opacity .2s ease-in-out, visibility 0s linear .2s',
    top: '-1.55em',
    left: '-2px',
    padding: '1px 6px',
    borderRadius: '4px 4px 4px 0',
    fontFamily: 'var(--font-ui)',
    fontSize: '11px',
    fontWeight: '600',
    letterSpacing: '0.01em',
    boxShadow: '0 1px 2px rgb(0 0 0 / 0.15)',
  },
  '.cm-ySelectionCaret:hover > .cm-ySelectionInfo, .cm-ySelectionInfo.cm-ySelectionInfo-active': {
    opacity: '1',
    visibility: 'visible',
    transition: 'opacity .15s ease-in-out, visibility 0s',
  },
  '.cm-ySelectionCaret': { borderLeftWidth: '2px', borderRightWidth: '0', marginLeft: '-1px', marginRight: '-1px' },
  '.cm-ySelectionCaretDot': { display: 'none' },
})
