// An openEO batch job's results downloaded by 4 processes with one sign-in (device flow, shared by localSharing).
// Run: OPENEO_URL=https://openeo.dataspace.copernicus.eu/openeo/1.2 JOB_ID=j-… npx tsx download.ts
import { fork } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openEO } from 'shared-session/openeo';

const { OPENEO_URL = 'https://openeo.dataspace.copernicus.eu/openeo/1.2', JOB_ID = '', OUT = 'results', PART } = process.env;
const processes = 4;
const backend = openEO({ url: OPENEO_URL, signIn: 'device' }); // in every process: one sign-in for all, and every run

if (PART === undefined) {
  await backend.session.signIn(); // prompts once (stderr); at once when a stored sign-in or another process has one
  // fork() keeps process.execArgv: each process runs this file the way this one does (tsx).
  const parts = Array.from({ length: processes }, (_, part) => fork(import.meta.filename, { env: { ...process.env, PART: `${part}` } }));
  const codes = await Promise.all(parts.map((child) => new Promise((resolve) => child.once('exit', resolve))));
  if (codes.some((code) => code !== 0)) throw new Error(`processes exited with ${codes.join(', ')}`);
} else {
  const { assets } = await backend.jobs.results(JOB_ID);
  await mkdir(OUT, { recursive: true });
  for (const [name, { href }] of Object.entries(assets).filter((_, index) => index % processes === Number(PART))) {
    // Assets under the API root need the token; signed URLs elsewhere must not get it.
    const response = href.startsWith(`${backend.url}/`) ? await backend.fetch(href) : await fetch(href);
    if (!response.ok) throw new Error(`${name}: ${response.status}`);
    await writeFile(path.join(OUT, path.basename(name)), new Uint8Array(await response.arrayBuffer()));
  }
}
await backend.close();
