import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashKey } from '../../src/core/digest.js';
import { type ErrorCode, isSessionError, SessionError, SHARED_FAILURE_CODES } from '../../src/core/errors.js';
import { tokenSchema } from '../../src/core/schemas.js';
import { boundedByClock, type Token } from '../../src/core/token.js';
import { MAX_EXPIRES_IN, parseTokenResponse } from '../../src/providers/token-request.js';
import { envelope, type Message, parseMessage, recordSchema } from '../../src/sharing/browser/messages.js';
import {
  answerSchema,
  describeFailure,
  failureError,
  legacyRecordSchema,
  MAX_RETRY_AFTER,
  PROTOCOL_VERSION,
  requestSchema,
  stateSchema,
} from '../../src/sharing/cloudflare/protocol.js';
import {
  decodeEpoch,
  decodeFailure,
  decodeMessage,
  decodeRecord,
  encodeFailure,
  encodeMessage,
  encodeRecord,
  tokenFromRecord,
} from '../../src/sharing/redis/protocol.js';

// Every schema that reads something another context, process, isolate or server wrote: valid values are accepted
// as they are, and anything else becomes `undefined`, `'corrupt'` or a SessionError with a code, never another
// throw and never a hang. A fixed seed keeps a run reproducible; `numRuns` keeps the file well under 20 s.
const runs = { seed: 16, numRuns: 300 } as const;

// --- Arbitraries ----------------------------------------------------------------------------------------------

const char = (from: number, to: number): fc.Arbitrary<string> => fc.integer({ min: from, max: to }).map((code) => String.fromCharCode(code));
/** Visible ASCII and spaces: what an access token may hold (RFC 6749 A.12). */
const visible = fc.string({ unit: char(0x20, 0x7e), minLength: 1, maxLength: 40 });
const tokenType = fc.stringMatching(/^[\w.-]{1,12}$/);
/** Any UTF-16 code units: lone surrogates, CR, LF, NUL included. */
const codeUnits = fc.string({ unit: char(0, 0xffff), maxLength: 24 });
const hostileString = fc.oneof(
  codeUnits,
  fc.constantFrom('', '\r\n', 'Bearer x\r\nSet-Cookie: a=b', '\uD800', '\uDFFF', 'a\uD800b', '\u0000', '\u2028', 'x'.repeat(70_000)),
);
const hostileNumber = fc.oneof(
  fc.double(),
  fc.constantFrom(Number.NaN, -0, Infinity, -Infinity, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53, 2 ** 31, -1, 1e308, 1e306),
);
const hostile = fc.oneof(fc.anything(), hostileString, hostileNumber, fc.constantFrom(null, undefined, [], {}, Symbol('x')));

/** A time: epoch ms or anything else a non-negative finite number can be. */
const time = fc.oneof(fc.double({ min: 0, max: 1e15, noNaN: true }), fc.constantFrom(0, -0, 1_700_000_000_000));
const positiveTime = fc.double({ min: Number.MIN_VALUE, max: 1e15, noNaN: true });
const optional = <T>(arbitrary: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arbitrary, { nil: undefined });

const token: fc.Arbitrary<Token> = fc
  .record(
    { accessToken: visible, tokenType, expiresAt: positiveTime, issuedAt: time, scope: fc.string({ maxLength: 20 }) },
    { requiredKeys: ['accessToken', 'tokenType', 'expiresAt', 'issuedAt'] },
  )
  .map((value) => value as Token);

const key = fc.string({ maxLength: 30 });
const requestId = fc.string({ minLength: 1, maxLength: 64 });
const failureCode = fc.constantFrom(...SHARED_FAILURE_CODES);

const browserMessage: fc.Arbitrary<Message> = fc.oneof(
  fc.record({ type: fc.constant('token' as const), token }),
  fc.record({ type: fc.constant('request' as const), id: requestId, rejected: visible }, { requiredKeys: ['type', 'id'] }),
  fc.record({ type: fc.constant('failed' as const), id: requestId, code: failureCode, retryAfter: time }, { requiredKeys: ['type', 'id', 'code'] }),
  fc.record({ type: fc.constant('busy' as const) }),
  fc.record({ type: fc.constant('clear' as const), at: time }),
  fc.record({ type: fc.constant('leader' as const) }),
  fc.record({
    type: fc.constant('election' as const),
    data: fc.record({ context: fc.constant('leader' as const), action: fc.constantFrom('apply', 'tell', 'death' as const), token: fc.string() }),
  }),
).chain((message) => key.map((k) => envelope(k, message as never)));

const browserRecord = fc.record(
  { v: fc.constant(2 as const), key, clearedAt: time, token, refreshToken: fc.string({ maxLength: 30 }) },
  { requiredKeys: ['v', 'key'] },
);

const leaseId = fc.string({ minLength: 1, maxLength: 64 });
const duration = fc.integer({ min: 0, max: 300_000 });
const epoch = fc.nat();
const doFailure = fc.record(
  {
    code: fc.stringMatching(/^[a-z_]{1,40}$/),
    message: fc.string({ maxLength: 500 }),
    status: fc.integer({ min: 100, max: 599 }),
    retryAfter: fc.double({ min: 0, max: MAX_RETRY_AFTER, noNaN: true }),
    oauthError: fc.string({ maxLength: 200 }),
  },
  { requiredKeys: ['code', 'message'] },
);
const v = fc.constant(PROTOCOL_VERSION);
/** The sender's clock in `fulfil` and `token` (any time a Date can hold). */
const senderNow = fc.oneof(fc.double({ min: 0, max: 8.64e15, noNaN: true }), fc.constantFrom(0, 1_700_000_000_000));
const doRequest = fc.oneof(
  fc.record(
    { v, type: fc.constant('acquire'), rejected: leaseId, wait: duration, lease: fc.integer({ min: 1, max: 300_000 }), epoch },
    { requiredKeys: ['v', 'type', 'wait', 'lease'] },
  ),
  fc.record({ v, type: fc.constant('fulfil'), lease: leaseId, token, refreshToken: leaseId, now: senderNow }, { requiredKeys: ['v', 'type', 'lease', 'token'] }),
  fc.record({ v, type: fc.constant('renew'), lease: leaseId }),
  fc.record({ v, type: fc.constant('abandon'), lease: leaseId, failure: doFailure }, { requiredKeys: ['v', 'type', 'lease'] }),
  fc.record({ v, type: fc.constant('clear') }),
);
const notice = fc.constant('corrupt_storage' as const);
const doAnswer = fc.oneof(
  fc.record({ v, type: fc.constant('token'), token, epoch, notice, now: senderNow }, { requiredKeys: ['v', 'type', 'token', 'epoch'] }),
  fc.record(
    { v, type: fc.constant('lease'), lease: leaseId, ttl: duration, epoch, refreshToken: leaseId, notice },
    { requiredKeys: ['v', 'type', 'lease', 'ttl', 'epoch'] },
  ),
  fc.record({ v, type: fc.constant('failed'), failure: doFailure }),
  fc.record({ v, type: fc.constant('busy') }),
  fc.record({ v, type: fc.constant('signed_out'), epoch }),
  fc.record({ v, type: fc.constant('done'), stored: fc.boolean(), epoch }, { requiredKeys: ['v', 'type'] }),
);
const doState = fc.record(
  {
    v,
    epoch,
    token: fc.record({ token, epoch, refreshToken: leaseId }, { requiredKeys: ['token', 'epoch'] }),
    lease: fc.record({ id: leaseId, expiresAt: time, ttl: duration, epoch }),
    backoff: fc.record({ failure: doFailure, until: time }),
  },
  { requiredKeys: ['v', 'epoch'] },
);
const doLegacy = fc.record({ v: fc.constant(1), token, refreshToken: leaseId }, { requiredKeys: ['v', 'token'] });

const from = fc.string({ minLength: 1, maxLength: 64 });
const redisDuration = fc.integer({ min: 1, max: 2_147_483_647 });
const redisMessage = fc.oneof(
  fc.record({ type: fc.constant('token' as const), lease: leaseId }),
  fc.record({ type: fc.constant('clear' as const), epoch }),
  fc.record(
    { type: fc.constant('failed' as const), lease: leaseId, code: failureCode, retryAfter: redisDuration },
    { requiredKeys: ['type', 'lease', 'code'] },
  ),
);
/** A token as the Redis transport stores it: non-empty strings, a lifetime between 1 ms and the timer limit. */
const redisToken = fc
  .record(
    { accessToken: visible, tokenType, issuedAt: fc.integer({ min: 0, max: 2 ** 42 }), lifetime: redisDuration, scope: fc.string({ maxLength: 20 }) },
    { requiredKeys: ['accessToken', 'tokenType', 'issuedAt', 'lifetime'] },
  )
  .map(({ lifetime, ...rest }): Token => ({ ...rest, expiresAt: rest.issuedAt + lifetime }));

// --- Mutation -------------------------------------------------------------------------------------------------

/** Every path to a value inside `value` (the root included). */
function paths(value: unknown, prefix: readonly string[] = []): string[][] {
  const out = [prefix.slice()];
  if (value !== null && typeof value === 'object') {
    for (const [name, inner] of Object.entries(value)) out.push(...paths(inner, [...prefix, name]));
  }
  return out;
}

type Mutation = { readonly pick: number; readonly how: 'replace' | 'delete' | 'add'; readonly replacement: unknown };
const mutation: fc.Arbitrary<Mutation> = fc.record({ pick: fc.nat(), how: fc.constantFrom('replace', 'delete', 'add'), replacement: hostile });

/** `valid` with one value replaced by something hostile, deleted, or a hostile member added next to it. */
function mutate(valid: unknown, { pick, how, replacement }: Mutation): unknown {
  const copy = structuredClone(valid);
  const all = paths(copy);
  const path = all[pick % all.length]!;
  if (path.length === 0) return how === 'add' ? copy : replacement;
  const parent = path.slice(0, -1).reduce<Record<string, unknown>>((object, name) => object[name] as Record<string, unknown>, copy as Record<string, unknown>);
  const last = path.at(-1)!;
  if (how === 'replace') parent[last] = replacement;
  else if (how === 'delete') delete parent[last];
  else parent[`${last}_extra`] = replacement;
  return copy;
}

/** JSON as it crosses a wire: `-0` becomes `0`, `undefined` members go. */
const json = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
const mutated = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.tuple(valid, mutation).map(([value, m]) => mutate(value, m));
/** Anything, a valid value with one hostile change, or a valid value: what another context may send. */
const inputs = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof(hostile, mutated(valid), valid);
/** The same as JSON text, plus raw hostile text. */
const texts = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<string> =>
  fc.oneof(hostileString, inputs(valid).map((value) => JSON.stringify(value) ?? 'undefined'), fc.json());

/** `safeParse` never throws; what it accepts re-validates, so nothing half-checked gets through. */
function assertTotal(schema: { safeParse(value: unknown): { success: boolean; data?: unknown } }, value: unknown): void {
  const parsed = schema.safeParse(value);
  if (parsed.success) expect(schema.safeParse(parsed.data).success).toBe(true);
}

/** The checks that every token a schema lets through must pass: it can go into a header and into a timer. */
function assertSoundToken(value: Token): void {
  expect(value.accessToken).toMatch(/^[\x20-\x7e]+$/);
  expect(Number.isFinite(value.expiresAt) && Number.isFinite(value.issuedAt)).toBe(true);
}

// --- Properties -----------------------------------------------------------------------------------------------

describe('token responses (schemas.ts, parseTokenResponse)', () => {
  const validResponse = fc.record(
    {
      access_token: visible,
      token_type: tokenType,
      expires_in: fc.oneof(fc.integer({ min: 1, max: 10 ** 9 }), fc.integer({ min: 1, max: 10 ** 9 }).map(String)),
      refresh_token: fc.string({ minLength: 1, maxLength: 40 }),
      scope: fc.string({ maxLength: 20 }),
      id_token: fc.string(),
    },
    { requiredKeys: ['access_token'] },
  );

  /** A response whose expires_in is any number or string at all: huge, tiny, negative, NaN's text, exponents. */
  const oddExpiry = fc
    .record({ access_token: visible, expires_in: fc.oneof(hostileNumber, hostileString, hostileNumber.map(String)) })
    .map((body) => JSON.stringify(body));

  it('a valid response becomes a token that starts at sentAt and lives expires_in seconds', () => {
    fc.assert(
      fc.property(validResponse, time, (body, sentAt) => {
        const { token: got, refreshToken } = parseTokenResponse(JSON.stringify(body), sentAt, 3600);
        const expiresIn = body.expires_in === undefined ? 3600 : Number(body.expires_in);
        expect(got.accessToken).toBe(body.access_token);
        expect(got.issuedAt).toBe(sentAt);
        expect(got.expiresAt).toBe(sentAt + Math.min(expiresIn, MAX_EXPIRES_IN) * 1000);
        expect(got.tokenType).toBe(body.token_type === undefined || /^bearer$/i.test(body.token_type) ? 'Bearer' : body.token_type);
        expect(refreshToken).toBe(body.refresh_token);
        expect(tokenSchema.safeParse(got).success).toBe(true);
      }),
      runs,
    );
  });

  it('any other body is a token that can be stored and shared, or an invalid_response SessionError: never another throw', () => {
    fc.assert(
      fc.property(fc.oneof(texts(validResponse), oddExpiry), time, (text, sentAt) => {
        let got: ReturnType<typeof parseTokenResponse>;
        try {
          got = parseTokenResponse(text, sentAt, 3600);
        } catch (error) {
          expect(isSessionError(error, 'invalid_response'), String(error)).toBe(true);
          return;
        }
        assertSoundToken(got.token);
        // What the endpoint gave must be something every transport can carry: tokenSchema checks it on receipt.
        expect(tokenSchema.safeParse(got.token).success).toBe(true);
        // Never before it was asked for (a tiny expires_in may round to sentAt: the core then refuses it as expired).
        expect(got.token.expiresAt).toBeGreaterThanOrEqual(sentAt);
      }),
      runs,
    );
  });

  // Found by the property above once huge numbers were in its inputs: `expires_in: 1e306` made `expiresAt` Infinity,
  // a token no transport's schema accepts (tabs dropped it as an invalid message) and that was never refreshed.
  it('a huge expires_in is read as a year, so expiresAt stays finite and shareable', () => {
    for (const expiresIn of [1e306, '1e306', Number.MAX_VALUE, 10 ** 12]) {
      const { token: got } = parseTokenResponse(JSON.stringify({ access_token: 'a', expires_in: expiresIn }), 1_000, 3600);
      expect(got.expiresAt).toBe(1_000 + MAX_EXPIRES_IN * 1000);
      expect(tokenSchema.safeParse(got).success).toBe(true);
    }
    expect(() => parseTokenResponse(JSON.stringify({ access_token: 'a', expires_in: '1e400' }), 0, 3600)).toThrow(SessionError);
  });
});

describe('browser channel messages and records (sharing/browser/messages.ts)', () => {
  it('every valid message round-trips through structured clone and JSON', () => {
    fc.assert(
      fc.property(browserMessage, (message) => {
        expect(parseMessage(structuredClone(message))).toEqual(message);
        expect(parseMessage(json(message))).toEqual(json(message));
      }),
      runs,
    );
  });

  it('anything else is undefined or a message that validates again: parseMessage never throws', () => {
    fc.assert(
      fc.property(inputs(browserMessage), (data) => {
        const parsed = parseMessage(data);
        if (parsed === undefined) return;
        expect(parseMessage(parsed)).toEqual(parsed);
        if (parsed.type === 'token') assertSoundToken(parsed.token);
      }),
      runs,
    );
  });

  it('every valid record round-trips; anything else is refused without a throw', () => {
    fc.assert(
      fc.property(browserRecord, (record) => {
        expect(recordSchema.parse(structuredClone(record))).toEqual(record);
      }),
      runs,
    );
    fc.assert(
      fc.property(inputs(browserRecord), (data) => assertTotal(recordSchema, data)),
      runs,
    );
  });
});

describe('the Durable Object protocol (sharing/cloudflare/protocol.ts)', () => {
  const schemas = [
    ['request', requestSchema, doRequest],
    ['answer', answerSchema, doAnswer],
    ['state', stateSchema, doState],
    ['legacy record', legacyRecordSchema, doLegacy],
  ] as const;

  for (const [name, schema, valid] of schemas) {
    it(`every valid ${name} round-trips through JSON; anything else is refused without a throw`, () => {
      fc.assert(
        fc.property(valid, (value) => {
          expect(schema.parse(json(value))).toEqual(json(value));
        }),
        runs,
      );
      fc.assert(
        fc.property(inputs(valid as fc.Arbitrary<unknown>), (data) => assertTotal(schema, data)),
        runs,
      );
    });
  }

  it('a relayed failure is a SessionError with a known code on the other side, whatever the failure held', () => {
    const codes = fc.constantFrom<ErrorCode>(...SHARED_FAILURE_CODES, 'aborted', 'closed', 'login_required', 'invalid_message', 'sharing_degraded');
    const error = fc
      .record({
        code: codes,
        message: fc.oneof(codeUnits, fc.constant('y'.repeat(2_000))),
        status: optional(fc.integer({ min: 100, max: 599 })),
        retryAfter: optional(hostileNumber),
        oauthError: optional(fc.oneof(codeUnits, fc.constant('z'.repeat(500)))),
      })
      .map(({ code, message, ...details }) => new SessionError(code, message, details));
    fc.assert(
      fc.property(error, (original) => {
        const failure = describeFailure(original);
        if (failure === undefined) {
          expect((SHARED_FAILURE_CODES as readonly string[]).includes(original.code)).toBe(false);
          return;
        }
        // What travels must pass the schema the receiving isolate applies.
        const answer = answerSchema.safeParse(json({ v: PROTOCOL_VERSION, type: 'failed', failure }));
        expect(answer.success).toBe(true);
        if (answer.data?.type !== 'failed') return;
        const relayed = failureError(answer.data.failure);
        expect(relayed).toBeInstanceOf(SessionError);
        expect(relayed.code).toBe(original.code);
      }),
      runs,
    );
    fc.assert(
      fc.property(doFailure, (failure) => {
        const relayed = failureError(failure);
        expect((SHARED_FAILURE_CODES as readonly string[]).includes(relayed.code)).toBe(true);
      }),
      runs,
    );
  });
});

describe('the Redis protocol (sharing/redis/protocol.ts)', () => {
  it('a stored token round-trips: the reader gets it back in its own clock with its lifetime', () => {
    fc.assert(
      fc.property(redisToken, redisDuration, time, (original, ttl, sentAt) => {
        const stored = decodeRecord(encodeRecord(original));
        if (stored === undefined || stored === 'corrupt') throw new Error(`not read back: ${String(stored)}`);
        const read = tokenFromRecord(stored, ttl, sentAt);
        expect(read.accessToken).toBe(original.accessToken);
        expect(read.tokenType).toBe(original.tokenType);
        expect(read.scope).toBe(original.scope);
        expect(read.expiresAt).toBe(sentAt + ttl);
        expect(read.expiresAt - read.issuedAt).toBeCloseTo(original.expiresAt - original.issuedAt, 0);
      }),
      runs,
    );
  });

  it('messages and failures round-trip', () => {
    fc.assert(
      fc.property(from, redisMessage, (sender, message) => {
        expect(decodeMessage(encodeMessage(sender, message))).toEqual({ v: 2, from: sender, ...message });
      }),
      runs,
    );
    fc.assert(
      fc.property(failureCode, leaseId, (code, holder) => {
        expect(decodeFailure(encodeFailure(code, holder))).toEqual({ v: 2, code, lease: holder });
      }),
      runs,
    );
  });

  it('anything else read from Redis is undefined or corrupt, never a throw; epochs are safe integers', () => {
    const record = fc.record({ v: fc.constant(2), token: redisToken.map((t) => JSON.parse(encodeRecord(t)).token as unknown) });
    const stored = fc.oneof(texts(record), hostile);
    fc.assert(
      fc.property(stored, (value) => {
        const got = decodeRecord(value);
        if (got === undefined) expect(value == null).toBe(true);
        else if (got !== 'corrupt') {
          assertSoundToken({ ...got, issuedAt: 0, expiresAt: got.lifetime });
          expect(got.lifetime).toBeGreaterThan(0);
        }
        const failure = decodeFailure(value);
        if (failure !== undefined && failure !== 'corrupt') expect((SHARED_FAILURE_CODES as readonly string[]).includes(failure.code)).toBe(true);
        const epochValue = decodeEpoch(value);
        expect(Number.isSafeInteger(epochValue) && epochValue >= 0).toBe(true);
      }),
      runs,
    );
    const message = fc.tuple(from, redisMessage).map(([sender, m]) => ({ v: 2, from: sender, ...m }));
    fc.assert(
      fc.property(texts(message), (text) => {
        const got = decodeMessage(text);
        if (got !== undefined) expect(decodeMessage(JSON.stringify(got))).toEqual(got);
      }),
      runs,
    );
  });
});

describe('hashKey and the clock bound (core/digest.ts, core/token.ts)', () => {
  it('distinct strings, ill-formed ones included, get distinct keys; equal strings the same key', () => {
    fc.assert(
      fc.property(codeUnits, codeUnits, (a, b) => {
        expect(hashKey(a)).toMatch(/^[\w-]{22}$/);
        expect(hashKey(a) === hashKey(b)).toBe(a === b);
      }),
      { ...runs, numRuns: 1_000 },
    );
    // The pairs UTF-8 alone would merge: every lone surrogate becomes U+FFFD.
    const merged = ['a\uD800', 'a\uDFFF', 'a\uFFFD', 'a\uDBFF', '\uD800a', '\uFFFDa', '\uDC00\uD800', '\uD800\uDC00'];
    expect(new Set(merged.map(hashKey)).size).toBe(merged.length);
  });

  it('boundedByClock: issuedAt never ahead of now, lifetime kept, never lengthened, idempotent', () => {
    const anyTime = fc.oneof(time, fc.double({ min: 0, max: Number.MAX_VALUE, noNaN: true }));
    fc.assert(
      fc.property(token, anyTime, (original, now) => {
        const bounded = boundedByClock(original, now);
        if (original.issuedAt <= now) {
          expect(bounded).toBe(original);
          return;
        }
        expect(bounded.issuedAt).toBe(now);
        // Never lengthened: a token that was dead stays dead (its expiry becomes at most now).
        expect(bounded.expiresAt).toBeLessThanOrEqual(Math.max(original.expiresAt, now));
        if (original.expiresAt <= now) expect(bounded.expiresAt).toBeLessThanOrEqual(now);
        expect(bounded.expiresAt - bounded.issuedAt).toBeLessThanOrEqual(Math.max(0, original.expiresAt - original.issuedAt));
        expect(boundedByClock(bounded, now)).toEqual(bounded);
        expect(bounded.accessToken).toBe(original.accessToken);
      }),
      runs,
    );
  });
});
