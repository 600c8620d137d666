// A batch job split over a pool of processes: each downloads its share of the tiles with the one shared session.
// Run: TOKEN_URL=… CLIENT_ID=… CLIENT_SECRET=… TILES_URL=https://tiles.example.com/ npx tsx main.ts
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openSession } from './session.js';

const processes = Number(process.env.PROCESSES ?? 8);
const tiles = Array.from({ length: Number(process.env.TILES ?? 64) }, (_, index) => `8/${130 + (index % 8)}/${90 + Math.floor(index / 8)}.png`);
const worker = fileURLToPath(new URL('./download.ts', import.meta.url));

// The job's own session, open until every process is done. A token lives only in the sessions that are open (it is
// never written to disk): without this one, a process that starts after the others closed theirs — a busy machine
// starts 8 processes seconds apart, and one finishes its share in a fraction of a second — requests another token.
// Asked here first, it also stops the job on wrong credentials before 8 processes start.
const session = openSession();
await session.getToken();
try {
  const downloaded = await Promise.all(
    Array.from({ length: processes }, (_, part) => {
      const share = tiles.filter((_, index) => index % processes === part);
      // fork() keeps process.execArgv, so each child runs TypeScript the way this process does (tsx).
      const child = fork(worker, share, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      return new Promise<number>((resolve, reject) => {
        child.once('message', (bytes) => resolve(Number(bytes)));
        child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`process ${part} exited with ${code}`))));
      });
    }),
  );
  console.log(JSON.stringify({ processes, tiles: tiles.length, bytes: downloaded.reduce((sum, bytes) => sum + bytes, 0) }));
} finally {
  await session.close();
}
