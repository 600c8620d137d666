import type { Socket } from 'node:net';
import { decode, encode, LineReader, type Message, type Outgoing } from './protocol.js';

/** One end of a connection between two contexts of `localSharing`: line framing and validation. */
export class Connection {
  readonly socket: Socket;
  readonly #reader: LineReader;

  constructor(socket: Socket, onMessage: (message: Message, from: Connection) => void, report: (why: string) => void) {
    this.socket = socket;
    this.#reader = new LineReader(
      (line) => {
        const message = decode(line);
        if (message === undefined) report('Ignored a malformed or other-version message on the local socket');
        else onMessage(message, this);
      },
      () => report('Ignored an oversized message on the local socket'),
    );
    socket.on('data', (chunk: Buffer) => this.#reader.push(chunk));
    // A peer that died mid-write: 'close' follows, which is what matters.
    socket.on('error', () => undefined);
  }

  send(message: Outgoing): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encode(message));
  }
}
