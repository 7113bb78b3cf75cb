// Must not compile: a disconnect cause that does not exist.
import { connect } from 'node-libwebsockets';

const c = connect('ws://127.0.0.1:1/');
c.on('disconnect', (d) => {
  if (d.cause === 'heartbeat-timeout') void d; // expect-error TS2367
});
