/**
 * A test-only page (test/web-tiptap.test.ts): a Tiptap editor bound by Collaboration to a Y.Doc
 * that `@hocuspocus/provider` syncs with Quire over the Hocuspocus protocol, on one shared
 * socket to the server's base path. Opened as `tiptap.html?ws=ws://host:port&doc=<name>`.
 */
import * as Y from 'yjs'
import { HocuspocusProvider, HocuspocusProviderWebsocket } from '@hocuspocus/provider'
import { Editor } from '@tiptap/core'
import Document from '@tiptap/extension-document'
import Paragraph from '@tiptap/extension-paragraph'
import Text from '@tiptap/extension-text'
import Collaboration from '@tiptap/extension-collaboration'

const query = new URLSearchParams(location.search)
const url = query.get('ws')
const name = query.get('doc')
if (!url || !name) throw new Error('open as tiptap.html?ws=<server WebSocket URL>&doc=<document name>')

const status = document.querySelector<HTMLElement>('[data-testid="status"]')!
const ydoc = new Y.Doc()
const socket = new HocuspocusProviderWebsocket({ url })
const provider = new HocuspocusProvider({ websocketProvider: socket, name, document: ydoc })
provider.attach() // a provider handed a socket does not attach itself (one it makes itself would)
provider.setAwarenessField('user', { name: query.get('user') ?? 'Tiptap', color: '#0ea5e9' })
provider.on('synced', () => {
  status.textContent = 'synced'
  status.dataset.synced = 'true'
})

const editor = new Editor({
  element: document.querySelector<HTMLElement>('[data-testid="editor"]')!,
  // Collaboration brings its own undo (Yjs'); none of these three has a history to turn off.
  extensions: [Document, Paragraph, Text, Collaboration.configure({ document: ydoc, field: 'default' })],
})

// For the test: read the shared document and the presence the provider sees.
Object.assign(window, { tiptap: { ydoc, provider, editor } })
