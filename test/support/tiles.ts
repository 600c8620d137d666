import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { crc32, deflateSync } from 'node:zlib';
import type { TokenServer } from './token-server.js';

/** A solid-colour RGB PNG, encoded by hand (no image library needed for tests). */
export function solidPng(size: number, [red, green, blue]: readonly [number, number, number]): Buffer {
  const row = Buffer.alloc(1 + size * 3);
  for (let x = 0; x < size; x++) row.set([red, green, blue], 1 + x * 3); // filter byte 0, then RGB pixels
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  const chunk = (type: string, data: Buffer): Buffer => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const typed = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(typed));
    return Buffer.concat([length, typed, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit, truecolour, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The colour of every protected tile: a test can look for it on screen. */
export const TILE_COLOUR = [0, 128, 255] as const;

export interface TileStats {
  /** Tile requests, answered or not. */
  requests: number;
  /** Tiles served (valid Bearer token). */
  served: number;
  /** Tile requests refused with 401 (no token, or not a valid one). */
  unauthorized: number;
  /** Distinct access tokens that tiles were served for. */
  tokens: Set<string>;
  /** Paths of the tiles served. */
  paths: Set<string>;
}

/**
 * Adds a protected tile route to the token server: `GET /tiles/{z}/{x}/{y}.png` answers a 256×256 PNG only with a valid
 * Bearer token from that server, 401 otherwise. CORS is open, as a tile API's would be.
 */
export function serveTiles(server: TokenServer, prefix = '/tiles/'): TileStats {
  const png = solidPng(256, TILE_COLOUR);
  const stats: TileStats = { requests: 0, served: 0, unauthorized: 0, tokens: new Set(), paths: new Set() };
  server.route((req, res, url) => {
    if (!url.pathname.startsWith(prefix)) return false;
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization' };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors).end();
      return true;
    }
    stats.requests++;
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    if (!server.isValid(token)) {
      stats.unauthorized++;
      res.writeHead(401, { ...cors, 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorized');
      return true;
    }
    stats.served++;
    stats.tokens.add(token);
    stats.paths.add(url.pathname);
    res.writeHead(200, { ...cors, 'content-type': 'image/png', 'cache-control': 'no-store' }).end(png);
    return true;
  });
  return stats;
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

/** A second loopback origin that records what it receives and answers anything (CORS open, PNG for `.png`). */
export interface Recorder {
  readonly origin: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  const png = solidPng(8, [255, 0, 0]);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers });
    const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': 'authorization' };
    if (req.method === 'OPTIONS') res.writeHead(204, cors).end();
    else if (path.endsWith('.png')) res.writeHead(200, { ...cors, 'content-type': 'image/png' }).end(png);
    else res.writeHead(200, { ...cors, 'content-type': 'application/json' }).end('{"recorded":true}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
