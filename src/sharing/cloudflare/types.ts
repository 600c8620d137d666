/*
 * The few parts of the Workers runtime this entry uses, typed structurally so that the package needs no
 * `@cloudflare/workers-types` and accepts the real runtime objects (and those types, when an app has them).
 */

/** The Durable Object storage calls the coordinator makes (a subset of `DurableObjectStorage`). */
export interface CoordinatorStorage {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
}

/** What the runtime passes to a Durable Object's constructor (a subset of `DurableObjectState`). */
export interface CoordinatorState {
  readonly storage: CoordinatorStorage;
}

/** A stub of one Durable Object (a subset of `DurableObjectStub`). */
export interface CoordinatorStub {
  fetch(input: string, init: RequestInit): Promise<Response>;
}

/** The binding of the `TokenCoordinator` class in `env` (a subset of `DurableObjectNamespace`). */
export interface CoordinatorNamespace<Id = unknown> {
  idFromName(name: string): Id;
  get(id: Id): CoordinatorStub;
}
