/**
 * `deno run lock.ts <sqlite file> <ms>`: holds the KV file's SQLite write lock for `ms` (as a Deno process frozen inside
 * a KV write does), prints `LOCKED`, then lets it go and prints `UNLOCKED`.
 */
import { DatabaseSync } from 'node:sqlite';

const [file, ms] = Deno.args as [string, string];
const db = new DatabaseSync(file);
db.exec('BEGIN IMMEDIATE');
console.log('LOCKED');
await new Promise((resolve) => setTimeout(resolve, Number(ms)));
db.exec('ROLLBACK');
db.close();
console.log('UNLOCKED');
