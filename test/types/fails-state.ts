// Must not compile: a state stats() never reports.
import { connect } from 'node-libwebsockets';

const c = connect('ws://127.0.0.1:1/');
if (c.stats().state === 'opened') void c; // expect-error TS2367
