// Must not compile: a listener expecting other arguments than the event gives.
import { connect } from 'node-libwebsockets';

const c = connect('ws://127.0.0.1:1/');
c.on('close', (code: string) => void code); // expect-error TS2345
