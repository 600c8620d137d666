import { expect } from 'vitest';
import { isSessionError, type SessionError } from '../../src/index.js';

/** The SessionError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function failure(promise: Promise<unknown>): Promise<SessionError> {
  const error = await promise.then(
    () => expect.fail('expected a SessionError'),
    (caught: unknown) => caught,
  );
  expect(isSessionError(error), String(error)).toBe(true);
  return error as SessionError;
}
