/** The people in the document, from awareness: avatars in the top bar and the head count. */
import type { Awareness } from 'y-protocols/awareness'
import { element } from './common.js'
import { initials, type Identity } from './identity.js'

interface PeerState {
  user?: Partial<Identity>
}

export function showPresence(awareness: Awareness, avatars: HTMLElement, count: HTMLElement, noun: HTMLElement): void {
  const render = () => {
    const people: Array<{ id: number; user: Identity; me: boolean }> = []
    awareness.getStates().forEach((state: PeerState, id) => {
      const user = state.user
      if (user?.name && user.color) people.push({ id, user: user as Identity, me: id === awareness.clientID })
    })
    // Me first, then the others in a stable order.
    people.sort((a, b) => Number(b.me) - Number(a.me) || a.id - b.id)
    const shown = people.slice(0, 5)
    avatars.replaceChildren(
      ...shown.map(({ user, me }) =>
        element('span', {
          class: me ? 'avatar me' : 'avatar',
          style: `--color: ${user.color}`,
          title: me ? `${user.name} (you)` : user.name,
          'data-name': user.name,
        }, initials(user.name)),
      ),
      ...(people.length > shown.length ? [element('span', { class: 'avatar more' }, `+${people.length - shown.length}`)] : []),
    )
    count.textContent = String(people.length)
    noun.textContent = people.length === 1 ? 'person' : 'people'
  }
  awareness.on('change', render)
  render()
}
