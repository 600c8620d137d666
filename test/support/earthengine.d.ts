// @google/earthengine ships no types: the little the tests use of it.
declare module '@google/earthengine' {
  import type { EarthEngineJsAuthApi } from '../../src/earth-engine.js';

  interface ComputedNumber {
    add(value: number): ComputedNumber;
    getInfo(callback: (value: unknown, error?: unknown) => void): void;
  }
  const ee: {
    data: EarthEngineJsAuthApi;
    initialize(
      baseUrl: string | null,
      tileUrl: string | null,
      success: () => void,
      failure: (error: unknown) => void,
      xsrfToken: string | null,
      project: string,
    ): void;
    Number(value: number): ComputedNumber;
  };
  export default ee;
}
