/** CodeMirror styling for the demo: a document-like sheet, and always-visible remote name tags. */
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
  // y-codemirror.next shows a remote name only on hover; a demo should show who is where.
  '.cm-ySelectionInfo': {
    opacity: '1',
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
  '.cm-ySelectionCaret': { borderLeftWidth: '2px', borderRightWidth: '0', marginLeft: '-1px', marginRight: '-1px' },
  '.cm-ySelectionCaretDot': { display: 'none' },
})
