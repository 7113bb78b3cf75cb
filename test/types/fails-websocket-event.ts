// Must not compile: an event ws's client does not have either.
import { WebSocket } from 'node-libwebsockets';

const ws = new WebSocket('ws://127.0.0.1:1/');
ws.on('messages', (data) => void data); // expect-error TS2345
