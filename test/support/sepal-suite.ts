import { afterAll, afterEach, beforeAll } from 'vitest';
import type { Closable } from './token-server-suite.js';
import { type EarthEngineServer, type SepalServer, startEarthEngineServer, startSepalServer } from './geo-servers.js';

/** The stand-in SEPAL and Earth Engine of a test file, and what each test opened. */
export interface SepalSuite {
  readonly sepal: SepalServer;
  /** Accepts the Google tokens the stand-in SEPAL hands out. */
  readonly ee: EarthEngineServer;
  /** Closes `item` after the current test (before the servers are reset). Pools are closed first. */
  track<T extends Closable>(item: T): T;
}

/** The prelude of the SEPAL tests: both servers for the file, and after each test everything tracked closed. */
export function useSepalServers(): SepalSuite {
  let sepal: SepalServer | undefined;
  let ee: EarthEngineServer | undefined;
  const open: Closable[] = [];
  beforeAll(async () => {
    sepal = await startSepalServer();
    ee = await startEarthEngineServer((token) => sepal!.isValid(token));
  });
  afterAll(async () => {
    await ee?.close();
    await sepal?.close();
  });
  afterEach(async () => {
    // In reverse: a pool tracked after the sessions it holds closes before them.
    for (const item of open.splice(0).reverse()) await item.close();
    sepal?.reset();
    ee?.reset();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useSepalServers: used before beforeAll ran');
    return value;
  };
  return {
    get sepal() {
      return started(sepal);
    },
    get ee() {
      return started(ee);
    },
    track(item) {
      open.push(item);
      return item;
    },
  };
}
