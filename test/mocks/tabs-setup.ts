// Every test file runs with the modelled cross-tab platform (test/mocks/tabs.ts), so the clients
// of a test share one session exactly as the tabs of one origin do, deterministically.
import { afterEach } from 'vitest'
import { installTabs, tabs } from './tabs.js'

installTabs()
afterEach(() => tabs.reset())
