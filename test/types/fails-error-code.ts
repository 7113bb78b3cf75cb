// Must not compile: an error code no error has (a typo).
import { connect } from 'node-libwebsockets';

const c = connect('ws://127.0.0.1:1/');
c.on('error', (err) => {
  if (err.code === 'ECONNREFUSD') void err; // expect-error TS2367
});
