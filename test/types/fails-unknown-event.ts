// Must not compile: an event the client does not have.
import { connect } from 'node-libwebsockets';

const c = connect('ws://127.0.0.1:1/');
c.on('opne', (x) => void x); // expect-error TS2345
