/**
 * The demo editor: CodeMirror 6 bound to a Y.Text by y-codemirror.next, synced through the stock
 * y-websocket provider to this server, or with `?transport=sse` through Quire's SseProvider
 * (Server-Sent Events and HTTP POSTs, docs/sse.md). Presence (names, colours, cursors) goes
 * through awareness.
 */
import * as Y from 'yjs'
import { WebsocketProvider } from 'y-websocket'
import { SseProvider } from '../src/client/index.js'
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next'
import { EditorState } from '@codemirror/state'
import {
  EditorView,
  drawSelection,
  dropCursor,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  keymap,
  lineNumbers,
  placeholder,
} from '@codemirror/view'
import { basePath, setStatus } from './common.js'
import { documentName, httpUrl, roomPath, serverUrl } from './doc-name.js'
import { loadIdentity, rename, saveIdentity } from './identity.js'
import { showPresence } from './presence.js'
import { editorTheme } from './editor-theme.js'
import { redrawCaretsOnRename, remoteCursors } from './remote-cursors.js'
import './demo.css'

const $ = <T extends HTMLElement = HTMLElement>(testId: string) => document.querySelector<T>(`[data-testid="${testId}"]`)!

const base = basePath()
// Read before documentName(), which may rewrite the URL.
// With authentication on, open the page as `?token=<JWT>`: the provider sends it as its `token` parameter.
const token = new URLSearchParams(location.search).get('token')
// `?transport=sse`: Server-Sent Events instead of a WebSocket, for networks that block WebSockets.
const sse = new URLSearchParams(location.search).get('transport') === 'sse'
const name = documentName(base)
document.title = `${name} · Quire`
$('doc-name').textContent = name

const doc = new Y.Doc()
const params: Record<string, string> = token ? { token } : {}
// BroadcastChannel would sync tabs of one browser without the server; the demo shows the server.
// SseProvider takes the document name as it is (it encodes it for the URL itself).
const provider = sse
  ? new SseProvider(httpUrl(base), name, doc, { params })
  : new WebsocketProvider(serverUrl(base), roomPath(name), doc, { disableBc: true, params })
const ytext = doc.getText('content')

let me = loadIdentity()
provider.awareness.setLocalStateField('user', me)

const view = new EditorView({
  parent: $('editor'),
  state: EditorState.create({
    doc: ytext.toString(),
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      highlightSpecialChars(),
      drawSelection(),
      dropCursor(),
      highlightActiveLine(),
      EditorView.lineWrapping,
      placeholder('Start typing — everyone here sees it as you type.'),
      keymap.of(yUndoManagerKeymap),
      yCollab(ytext, null), // text sync and undo; cursors come from remoteCursors
      remoteCursors(ytext, provider.awareness),
      editorTheme,
    ],
  }),
})

redrawCaretsOnRename(view, provider.awareness)

// Connection status: connecting → syncing → connected, and back to offline on a drop.
const status = $('status')
const saved = $('saved')
status.dataset.transport = sse ? 'sse' : 'websocket'
status.title = sse ? 'Connected by Server-Sent Events and HTTP (?transport=sse)' : 'Connected by WebSocket'
const isConnected = () => (provider instanceof SseProvider ? provider.connected : provider.wsconnected)
const failedAttempts = () => (provider instanceof SseProvider ? provider.unsuccessfulReconnects : provider.wsUnsuccessfulReconnects)
const via = sse ? ' · SSE' : ''
let wasConnected = false
let closed = false
const showStatus = () => {
  if (closed) return
  if (isConnected()) wasConnected = true
  const offline = !isConnected() && (wasConnected || failedAttempts() > 0)
  if (isConnected() && provider.synced) setStatus(status, 'connected', `Connected${via}`)
  else if (isConnected()) setStatus(status, 'syncing', `Syncing…${via}`)
  else if (offline) setStatus(status, 'disconnected', `Offline · reconnecting${via}`)
  else setStatus(status, 'connecting', `Connecting…${via}`)
  // The Y.Doc keeps offline edits; the provider sends them when it reconnects.
  saved.textContent = offline ? 'Offline: your edits are kept in this tab until the server is back' : 'Changes are saved on the server'
}
const showClosed = ({ reason }: { reason: string }) => {
  closed = true
  setStatus(status, 'disconnected', `Closed: ${reason || 'refused by the server'}`)
}
if (provider instanceof SseProvider) {
  provider.on('status', showStatus)
  provider.on('sync', showStatus)
  provider.on('connection-close', showStatus)
  provider.on('connection-error', showStatus)
  provider.on('closed', showClosed)
} else {
  provider.on('status', showStatus)
  provider.on('sync', showStatus)
  provider.on('connection-close', showStatus)
  provider.on('closed', showClosed)
}
showStatus()

showPresence(provider.awareness, $('avatars'), $('people-count'), $('people-noun'))

// My name: editable, shown to the others next to my cursor.
const nameInput = $<HTMLInputElement>('my-name')
const meDot = $('me-dot')
const showMe = () => {
  nameInput.value = me.name
  meDot.style.background = me.color
  document.documentElement.style.setProperty('--me', me.color)
}
const commitName = () => {
  me = rename(me, nameInput.value)
  saveIdentity(me)
  provider.awareness.setLocalStateField('user', me)
  showMe()
}
nameInput.addEventListener('change', commitName)
nameInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter') {
    event.preventDefault()
    view.focus() // commits through the change event
  }
})
showMe()

const share = $<HTMLButtonElement>('share')
share.addEventListener('click', () => void copyLink())
async function copyLink(): Promise<void> {
  const link = `${location.origin}${base}d/${roomPath(name)}`
  try {
    await navigator.clipboard.writeText(link)
    share.textContent = 'Link copied'
  } catch {
    prompt('Copy this link', link)
  }
  setTimeout(() => (share.textContent = 'Copy link'), 1800)
}

view.focus()
// Handy in the console and for the browser tests.
Object.assign(window, { quire: { doc, provider, view } })
