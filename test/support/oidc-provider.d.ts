// oidc-provider (panva) ships no types; only what the tests use.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  export interface ProviderConfiguration {
    clients?: Array<Record<string, unknown>>;
    features?: Record<string, unknown>;
    clientAuthMethods?: string[];
    enabledJWA?: Record<string, string[]>;
    [option: string]: unknown;
  }
  export default class Provider {
    constructor(issuer: string, configuration?: ProviderConfiguration);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }
}
