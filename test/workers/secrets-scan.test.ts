import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { leaks } from '../support/secrets.js';
import { type ProbeReply, useProbeWorkers } from '../support/workerd.js';

// The secrets scan of durableObjectSharing: every byte of the Durable Object's storage on disk (SQLite files,
// journals), everything workerd printed (the Workers' console), and every answer and error message the isolates
// got — through token requests, a failure relayed to waiting isolates and remembered in storage, refresh-token
// rotations and a sign-out. README: the client secret never; a refresh token only when it rotates, handed only to the
// lease holder, and deleted by a sign-out.

const secret = 'cf-scan-client-s3cr3t-value';
const probe = useProbeWorkers('edge-secrets-scan', secret);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? filesUnder(file) : [file];
  });
}

/** Collects workerd's stdout and stderr. */
function capture(into: string[]): (stdout: Readable, stderr: Readable) => void {
  return (stdout, stderr) => {
    stdout.on('data', (chunk: Buffer) => into.push(chunk.toString()));
    stderr.on('data', (chunk: Buffer) => into.push(chunk.toString()));
  };
}

function onDisk(persist: string): Record<string, Uint8Array> {
  return Object.fromEntries(filesUnder(persist).map((file) => [`storage ${path.relative(persist, file)}`, readFileSync(file)]));
}

it('client credentials through a relayed failure and a restart: the client secret is not in storage, output or answers', async () => {
  const persist = mkdtempSync(path.join(tmpdir(), 'shared-session-do-scan-'));
  const output: string[] = [];
  const replies: ProbeReply[] = [];
  try {
    const first = await probe.start({ instances: 3, persist, stdio: capture(output) });
    const ask = async (mf: typeof first.mf, names: string[], route = '/shared?attempts=2'): Promise<void> => {
      replies.push(...(await Promise.all(names.map((name) => probe.get(mf, name, route)))));
    };
    await ask(first.mf, first.names);
    await (await first.mf.getWorker(first.names[0]!)).fetch('http://worker/clear?attempts=2');
    probe.server.latency = 200; // the others wait for the holder and get its failure
    probe.server.failNext(2, 503);
    await ask(first.mf, first.names);
    probe.server.latency = 0;
    await probe.stop(first.mf);
    const second = await probe.start({ instances: 2, persist, stdio: capture(output) });
    await sleep(600); // past the remembered back-off
    await ask(second.mf, second.names);
    await probe.stop(second.mf);

    expect(replies.map((reply) => reply.error ?? 'token')).toEqual(expect.arrayContaining(['token', 'endpoint_unavailable']));
    const places = { ...onDisk(persist), 'workerd output': output.join(''), 'answers and error messages': JSON.stringify(replies) };
    expect(Object.keys(places).some((place) => place.startsWith('storage '))).toBe(true);
    expect(leaks(places, [{ name: 'client secret', value: secret }])).toEqual([]);
  } finally {
    rmSync(persist, { recursive: true, force: true });
  }
});

it('refresh-token rotations, then a sign-out: no refresh token left in the database, output or answers (the SQLite WAL keeps old pages)', async () => {
  const persist = mkdtempSync(path.join(tmpdir(), 'shared-session-do-scan-'));
  const output: string[] = [];
  const replies: ProbeReply[] = [];
  try {
    probe.server.lifetime = 2; // margin 1 s: a rotation each second it is asked
    const { mf, names } = await probe.start({
      instances: 2,
      persist,
      stdio: capture(output),
      bindings: { REFRESH_TOKEN: probe.server.issueRefreshToken(probe.client.id) },
    });
    for (let round = 0; round < 3; round++) {
      replies.push(...(await Promise.all(names.map((name) => probe.get(mf, name, '/rotating?margin=1000')))));
      await sleep(1_100);
    }
    const rotated = probe.server.issuedRefreshTokens();
    expect(rotated.length).toBeGreaterThan(2);
    // While the chain runs, the newest refresh token is kept (README: another isolate must continue it).
    const before = onDisk(persist);
    expect(leaks(before, [{ name: 'newest refresh token', value: rotated.at(-1)! }]).length).toBeGreaterThan(0);
    await (await mf.getWorker(names[0]!)).fetch('http://worker/clear?kind=rotating&margin=1000');
    replies.push(...(await Promise.all(names.map((name) => probe.get(mf, name, '/rotating?margin=1000')))));
    await probe.stop(mf);

    expect(replies.map((reply) => reply.error ?? 'token')).toContain('login_required');
    // SQLite's write-ahead log keeps earlier versions of a page until a checkpoint, so the refresh tokens of the
    // chain, the last one (signed out, but not revoked at the server) included, are still in the bytes of
    // `*.sqlite-wal` on a local disk (Miniflare), though deleted from the storage the Durable Object API shows. Measured,
    // not fixed here (see README, Security): the database itself, the output and the answers hold none; the WAL holds no
    // client secret.
    const disk = onDisk(persist);
    const wal = Object.fromEntries(Object.entries(disk).filter(([place]) => place.endsWith('-wal')));
    const database = Object.fromEntries(Object.entries(disk).filter(([place]) => !place.endsWith('-wal')));
    expect(Object.keys(database).length).toBeGreaterThan(0);
    const places = { ...database, 'workerd output': output.join(''), 'answers and error messages': JSON.stringify(replies) };
    const secrets = [{ name: 'client secret', value: secret }, ...rotated.map((value, index) => ({ name: `refresh token ${index}`, value }))];
    expect(leaks(places, secrets)).toEqual([]);
    expect(leaks(wal, secrets.slice(0, 1))).toEqual([]);
  } finally {
    rmSync(persist, { recursive: true, force: true });
  }
});
