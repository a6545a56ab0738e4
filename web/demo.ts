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
import { labelsAfterMoves } from './cursor-labels.js'
import { editLock, setLocked } from './edit-lock.js'
import { fetchAccess, refusalText, type PageAccess } from './access.js'
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
      labelsAfterMoves(provider.awareness),
      editLock(), // until the server says this token may write
      editorTheme,
    ],
  }),
})

redrawCaretsOnRename(view, provider.awareness)

// Connection status: connecting → syncing → connected (or read-only), back to offline on a drop,
// and "access refused" for good once the server refused the token.
const status = $('status')
const saved = $('saved')
status.dataset.transport = sse ? 'sse' : 'websocket'
status.title = sse ? 'Connected by Server-Sent Events and HTTP (?transport=sse)' : 'Connected by WebSocket'
const isConnected = () => (provider instanceof SseProvider ? provider.connected : provider.wsconnected)
const failedAttempts = () => (provider instanceof SseProvider ? provider.unsuccessfulReconnects : provider.wsUnsuccessfulReconnects)
const via = sse ? ' · SSE' : ''
let wasConnected = false
/** What the server says this token may do; undefined while asking. */
let access: PageAccess | undefined
/** Set once the server refused the token or closed the document for good: nothing typed here could be saved. */
let refused = false
const showStatus = () => {
  if (refused) return
  if (isConnected()) wasConnected = true
  const offline = !isConnected() && (wasConnected || failedAttempts() > 0)
  const readOnly = access?.kind === 'read'
  // "Connected" only once the access is known too, so the page never invites typing it would drop.
  if (isConnected() && provider.synced && access) setStatus(status, 'connected', `${readOnly ? 'Read-only' : 'Connected'}${via}`)
  else if (isConnected()) setStatus(status, 'syncing', `Syncing…${via}`)
  else if (offline) setStatus(status, 'disconnected', `Offline · reconnecting${via}`)
  else setStatus(status, 'connecting', `Connecting…${via}`)
  status.dataset.access = access?.kind ?? 'pending'
  // The Y.Doc keeps offline edits; the provider sends them when it reconnects.
  saved.textContent = readOnly
    ? 'Read-only: you see every change live, but your token does not allow editing'
    : offline
      ? 'Offline: your edits are kept in this tab until the server is back'
      : 'Changes are saved on the server'
  // Writers keep typing offline (the edits wait in the tab); readers never could.
  setLocked(view, access === undefined || readOnly)
}
/** The server refused this page's token (401/4401, 403/4403) or closed the document for good (other 44xx). */
const refuse = (code: number, reason: string) => {
  if (refused) return // the access check and the connection may both say it; the first one stands
  refused = true
  const text = refusalText(code, reason)
  setStatus(status, 'disconnected', text.status)
  status.dataset.refused = String(code)
  saved.textContent = text.detail
  setLocked(view, true)
}
const showClosed = ({ code, reason }: { code: number; reason: string }) => refuse(code, reason)
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
void fetchAccess(base, name, token).then((answer) => {
  if (answer.kind === 'refused') return refuse(answer.status, answer.message)
  access = answer
  showStatus()
  // The editor could not take focus while locked; give it now unless the person went elsewhere.
  if (answer.kind !== 'read' && !refused && (document.activeElement === document.body || document.activeElement === null)) view.focus()
})

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
