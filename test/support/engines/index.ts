import { launchChromiumEngine } from './chromium.js';
import type { Engine, EngineName } from './engine.js';
import { launchFirefoxEngine } from './firefox.js';
import { launchWebKitEngine } from './webkit.js';

export * from './engine.js';

/** The engines the suite in `test/engines/` runs in, in this order. */
export const ENGINES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

export function launchEngine(name: EngineName): Promise<Engine> {
  switch (name) {
    case 'chromium':
      return launchChromiumEngine();
    case 'firefox':
      return launchFirefoxEngine();
    case 'webkit':
      return launchWebKitEngine();
  }
}
