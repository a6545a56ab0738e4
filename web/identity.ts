/**
 * Who "I" am in the demo: a random friendly name and colour, shown to others next to the cursor
 * through awareness. Kept in sessionStorage: a reload keeps them, while a second window (the
 * usual way to try the demo) gets its own.
 */
export interface Identity {
  name: string
  color: string
  colorLight: string
}

const ADJECTIVES = ['Brave', 'Calm', 'Clever', 'Curious', 'Eager', 'Gentle', 'Happy', 'Jolly', 'Kind', 'Lively', 'Lucky', 'Nimble', 'Quiet', 'Swift', 'Witty', 'Bold']
const ANIMALS = ['Otter', 'Fox', 'Heron', 'Lynx', 'Panda', 'Koala', 'Falcon', 'Badger', 'Dolphin', 'Owl', 'Tiger', 'Wombat', 'Robin', 'Bison', 'Gecko', 'Yak']
/** Saturated enough for a caret, dark enough for white label text. */
const COLORS = ['#e11d48', '#db2777', '#9333ea', '#4f46e5', '#2563eb', '#0891b2', '#0d9488', '#059669', '#65a30d', '#d97706', '#ea580c', '#dc2626']

const KEY = 'quire-demo-identity'
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!

export function loadIdentity(): Identity {
  try {
    const saved = JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Partial<Identity> | null
    if (saved?.name && saved.color && COLORS.includes(saved.color)) return withLight(saved.name, saved.color)
  } catch {
    // unreadable storage: fall through to a fresh identity
  }
  const identity = withLight(`${pick(ADJECTIVES)} ${pick(ANIMALS)}`, pick(COLORS))
  saveIdentity(identity)
  return identity
}

export function saveIdentity(identity: Identity): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify({ name: identity.name, color: identity.color }))
  } catch {
    // private mode or full storage: the name just won't survive a reload
  }
}

export function rename(identity: Identity, name: string): Identity {
  return withLight(name.trim().slice(0, 32) || identity.name, identity.color)
}

function withLight(name: string, color: string): Identity {
  return { name, color, colorLight: color + '33' } // 20 % alpha for remote selections
}

export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean)
  const letters = words.length > 1 ? words[0]![0]! + words[words.length - 1]![0]! : (words[0] ?? '?').slice(0, 2)
  return letters.toUpperCase()
}
