/**
 * What happened, as the timeline shows it.
 *
 * @typedef {'started' | 'refresh' | 'adopted' | 'retry-401' | 'token-request' | 'api'
 *   | 'expired' | 'session-ending' | 'logout' | 'error' | 'control'} TimelineKind
 */

/** How many entries the timeline keeps; older ones scroll away. */
const MAX_ENTRIES = 200

/**
 * Creates the timeline: newest entry first, with a repeat of the newest entry (same kind and text)
 * shown as a count, so 50 parallel 401s read as one line `×50`.
 *
 * @param {HTMLOListElement} list - the list to fill
 * @returns {{ add(kind: TimelineKind, text: string): void }} the timeline
 */
export function createTimeline(list) {
  return {
    add(kind, text) {
      const newest = /** @type {HTMLLIElement | null} */ (list.firstElementChild)
      if (newest?.dataset.kind === kind && newest.dataset.text === text) {
        const count = Number(newest.dataset.count) + 1
        newest.dataset.count = String(count)
        const counter = newest.querySelector('.count')
        if (counter) counter.textContent = ` ×${count}`
        return
      }
      const item = document.createElement('li')
      Object.assign(item.dataset, { kind, text, count: '1' })
      const time = document.createElement('time')
      const now = new Date()
      time.dateTime = now.toISOString()
      time.textContent = `${now.toTimeString().slice(0, 8)}.${String(now.getMilliseconds()).padStart(3, '0')}`
      const label = document.createElement('span')
      label.className = 'kind'
      label.textContent = kind
      const body = document.createElement('span')
      body.textContent = text
      const counter = document.createElement('span')
      counter.className = 'count'
      body.append(counter)
      item.append(time, label, body)
      list.prepend(item)
      while (list.children.length > MAX_ENTRIES) list.lastElementChild?.remove()
    },
  }
}
