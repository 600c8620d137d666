// A local-sharing test process like local-worker.ts, plus what a process-pool worker does between two downloads:
// `block` runs `ms` of synchronous CPU work on the event loop (nothing else of this process runs meanwhile), and
// `getOne` reports how long one getToken took; `getAfterBlock` computes until a file exists and calls getToken in
// the same task, before this process reads what its sockets received meanwhile; `getThenBlock` asks for a token, then
// computes for `ms` while the answer arrives unread. Forked by busy-local-fleet.ts.
import { existsSync } from 'node:fs';
import { inspect } from 'node:util';
import { getMany, type LocalConfig, sessionOf } from './local-worker.js';

export type BusyRequest =
  | { id: number; cmd: 'getMany'; count: number }
  | { id: number; cmd: 'getOne' }
  | { id: number; cmd: 'block'; ms: number }
  | { id: number; cmd: 'getAfterBlock'; until: string; ms: number }
  | { id: number; cmd: 'getThenBlock'; ms: number }
  | { id: number; cmd: 'status' }
  | { id: number; cmd: 'clear' }
  | { id: number; cmd: 'close' };

if (process.env.BUSY_LOCAL_WORKER !== undefined && process.send !== undefined) {
  const config = JSON.parse(process.env.BUSY_LOCAL_WORKER) as LocalConfig;
  const send = (message: object): void => {
    if (process.connected) process.send?.(message);
  };
  const session = sessionOf(config, send);

  process.on('message', (request: BusyRequest) => {
    void handle(request).then((result) => send({ id: request.id, ...result }));
  });

  async function handle(request: BusyRequest): Promise<object> {
    switch (request.cmd) {
      case 'getMany':
        return getMany(session, request.count);
      case 'getOne': {
        const started = Date.now();
        try {
          const token = await session.getToken();
          return { ms: Date.now() - started, accessToken: token.accessToken, expiresAt: token.expiresAt, now: Date.now() };
        } catch (error) {
          return { ms: Date.now() - started, error: (error as { code?: string }).code ?? inspect(error) };
        }
      }
      case 'block': {
        // CPU-bound work, as a tile being decoded or reprojected: the event loop is busy for `ms`.
        const end = Date.now() + request.ms;
        let spins = 0;
        while (Date.now() < end) spins++;
        return { spins };
      }
      case 'getAfterBlock': {
        // CPU-bound work until the test says (the file `until` exists), for `ms` at most: no I/O is read meanwhile.
        const end = Date.now() + request.ms;
        send({ event: 'blocking' });
        let spins = 0;
        while (!existsSync(request.until) && Date.now() < end) spins++;
        const sawFile = spins >= 0 && existsSync(request.until);
        try {
          return { sawFile, accessToken: (await session.getToken()).accessToken };
        } catch (error) {
          return { sawFile, error: (error as { code?: string }).code ?? inspect(error) };
        }
      }
      case 'getThenBlock': {
        // The request goes out (a turn of the event loop), then CPU-bound work: the answer waits in the socket.
        const call = session.getToken();
        call.catch(() => undefined);
        await new Promise((resolve) => setImmediate(resolve));
        send({ event: 'blocking' });
        const end = Date.now() + request.ms;
        let spins = 0;
        while (Date.now() < end) spins++;
        const blockedUntil = Date.now();
        try {
          return { spins, blockedUntil, accessToken: (await call).accessToken, leading: session.isLeader };
        } catch (error) {
          return { spins, blockedUntil, error: (error as { code?: string }).code ?? inspect(error), leading: session.isLeader };
        }
      }
      case 'status':
        return { leading: session.isLeader };
      case 'clear':
        await session.clear();
        return {};
      case 'close':
        await session.close();
        setTimeout(() => process.exit(0), 10);
        return {};
    }
  }

  send({ event: 'ready' });
}
