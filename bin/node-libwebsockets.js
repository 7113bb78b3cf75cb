#!/usr/bin/env node
// node-libwebsockets on the command line, like websocat or wscat: stdin lines
// become messages, received messages go to stdout, one per line. The session
// is the library's: it reconnects by itself, queues what is typed while
// offline, and ends (exit code) when stdin ends, on SIGINT, or when it fails.
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { parseArgs } = require('node:util');

const NAME = 'node-libwebsockets';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const USAGE = `Usage: ${NAME} [options] <url>

A WebSocket client on the command line. Each line read from stdin is sent as
one text message (without the newline); each message received is written to
stdout followed by a newline. The session reconnects by itself after a lost
connection (lines typed meanwhile are queued and sent after the reconnect);
failed attempts are reported on stderr. When stdin ends, everything queued is
sent, the session closes with 1000 and the program exits; replies the
server sends before it answers the Close are still printed, and --wait gives
slower ones time. If stdin ends before a connection ever opened, the next
failed attempt ends the program.

Connection:
  -H, --header 'Name: value'  extra handshake header (repeatable)
  -s, --subprotocol <name>    subprotocol to offer (repeatable)
      --origin <origin>       Origin header
      --proxy <url>           HTTP proxy, http://[user:pass@]host:port (CONNECT)
      --ca <file>             trusted CA certificate(s), PEM or DER; replaces
                              Node's root store
      --cert <file>           client certificate (PEM), with --key
      --key <file>            client private key (PEM), with --cert
      --passphrase <text>     passphrase of the --key
      --servername <name>     name for SNI and the certificate check (also
                              sent as Host)
      --allow-self-signed     accept a self-signed server certificate
      --allow-unknown-ca      accept a certificate whose issuer is not trusted
      --allow-invalid-dates   accept an expired or not yet valid certificate
      --allow-host-mismatch   accept a certificate for another name
      --insecure              accept any server certificate (all checks off)
      --connect-timeout <s>   give up when no connection opened within this
                              many seconds (default: keep trying)
  -L, --location              follow redirects (301, 302, 303, 307, 308)
      --max-redirects <n>     redirects followed in a row (default 10)

Persistence:
      --heartbeat <intervalMs>[/<timeoutMs>]
                              PING every intervalMs; drop and reconnect when
                              nothing arrives within timeoutMs of a PING
                              (default 30000/10000)
      --no-heartbeat          no keepalive PINGs
      --stall-timeout <ms>    reconnect when no message arrived for this long
      --max-age <ms>          replace the connection after this long
                              (make-before-break)
      --reconnect <ms,...>    delays before reconnection attempts 1, 2, ...
                              (the last repeats; default 500,1000,2000,5000,
                              10000,30000)
      --no-reconnect          one connection: its end is the end of the program
      --max-attempts <n>      give up after n failed attempts in a row
                              (default: never)

Input and output:
      --binary base64|raw     binary messages on stdout as base64 (default) or
                              as raw bytes, each followed by a newline
      --binary-input          send stdin lines as binary messages
      --wait <s>              after stdin ends and everything was sent, wait
                              this many seconds for replies before closing
                              (default 0)
      --events                connection events (state, open, disconnect,
                              reconnecting, giveup, drop, stall, rotate, gap,
                              redirect, error, close) as JSON lines on stderr
      --stats                 the session's stats() as JSON on stderr at exit
  -h, --help                  this help
      --version               versions of this package and of libwebsockets

Signals: SIGINT (Ctrl-C) and SIGTERM close the session with 1000 (a second
one drops the connection at once); SIGINT also prints the stats JSON.

Exit codes:
  0  closed normally: stdin ended, SIGINT/SIGTERM, or with --no-reconnect the
     server closed with 1000
  1  the session ended by a failure: it never connected (stdin ended first,
     --connect-timeout passed, or SIGINT/SIGTERM came first), it gave up
     (e.g. HTTP 404, or --max-attempts reached), or with --no-reconnect the
     connection could not be made or ended abnormally (any close code but 1000)
  2  bad usage: unknown flag, missing or invalid URL, invalid option value
`;

const OPTIONS = {
  header: { type: 'string', short: 'H', multiple: true },
  subprotocol: { type: 'string', short: 's', multiple: true },
  origin: { type: 'string' },
  heartbeat: { type: 'string' },
  'no-heartbeat': { type: 'boolean' },
  'stall-timeout': { type: 'string' },
  'max-age': { type: 'string' },
  reconnect: { type: 'string' },
  'no-reconnect': { type: 'boolean' },
  'max-attempts': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  passphrase: { type: 'string' },
  servername: { type: 'string' },
  'allow-self-signed': { type: 'boolean' },
  'allow-unknown-ca': { type: 'boolean' },
  'allow-invalid-dates': { type: 'boolean' },
  'allow-host-mismatch': { type: 'boolean' },
  insecure: { type: 'boolean' },
  'connect-timeout': { type: 'string' },
  location: { type: 'boolean', short: 'L' },
  'max-redirects': { type: 'string' },
  wait: { type: 'string' },
  proxy: { type: 'string' },
  binary: { type: 'string' },
  'binary-input': { type: 'boolean' },
  events: { type: 'boolean' },
  stats: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
};

class UsageError extends Error {}

function usageExit(message) {
  process.stderr.write(`${NAME}: ${message}\nTry '${NAME} --help' for more information.\n`);
  process.exitCode = EXIT_USAGE;
}

function seconds(text, flag) {
  if (!/^\d+(\.\d+)?$/.test(text)) throw new UsageError(`${flag} takes a number of seconds, got ${JSON.stringify(text)}`);
  return Math.round(Number(text) * 1000);
}

function wholeNumber(text, flag) {
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} takes a whole number, got ${JSON.stringify(text)}`);
  return Number(text);
}

function readOptionFile(file, flag) {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${file}: ${e.message}`);
  }
}

function headersOf(list) {
  const headers = {};
  const seen = new Map(); // lower-case name -> spelling used
  for (const h of list) {
    const colon = h.indexOf(':');
    const name = colon === -1 ? '' : h.slice(0, colon).trim();
    if (!name) throw new UsageError(`--header takes 'Name: value', got ${JSON.stringify(h)}`);
    const value = h.slice(colon + 1).trim();
    const key = seen.get(name.toLowerCase());
    if (key === undefined) {
      seen.set(name.toLowerCase(), name);
      headers[name] = value;
    } else {
      headers[key] = `${headers[key]}, ${value}`; // repeated header: one comma-separated list
    }
  }
  return headers;
}

/** The command line as connect() arguments and the CLI's own settings. */
function parseCommandLine(argv) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(e.message);
  }
  const v = parsed.values;
  if (v.help) return { help: true };
  if (v.version) return { version: true };
  if (parsed.positionals.length === 0) throw new UsageError('missing URL');
  if (parsed.positionals.length > 1) throw new UsageError(`one URL expected, got ${parsed.positionals.length}: ${parsed.positionals.join(' ')}`);
  const url = parsed.positionals[0];

  const options = {};
  if (v.header) options.headers = headersOf(v.header);
  if (v.subprotocol) options.protocols = v.subprotocol;
  if (v.origin !== undefined) options.origin = v.origin;
  if (v.proxy !== undefined) options.proxy = v.proxy;
  if (v.ca !== undefined) options.ca = readOptionFile(v.ca, '--ca');
  if (v.cert !== undefined) options.cert = readOptionFile(v.cert, '--cert');
  if (v.key !== undefined) options.key = readOptionFile(v.key, '--key');
  if (v.passphrase !== undefined) options.passphrase = v.passphrase;
  if (v.servername !== undefined) options.servername = v.servername;
  if (v['allow-self-signed']) options.allowSelfSigned = true;
  if (v['allow-unknown-ca']) options.allowUnknownCA = true;
  if (v['allow-invalid-dates']) options.allowInvalidDates = true;
  if (v['allow-host-mismatch']) options.allowHostMismatch = true;
  if (v.insecure) options.rejectUnauthorized = false;
  if (v['max-redirects'] !== undefined && !v.location) throw new UsageError('--max-redirects needs --location');
  if (v.location) options.followRedirects = true;
  if (v['max-redirects'] !== undefined) options.maxRedirects = wholeNumber(v['max-redirects'], '--max-redirects');

  if (v['no-heartbeat'] && v.heartbeat !== undefined) throw new UsageError('--heartbeat and --no-heartbeat exclude each other');
  if (v['no-heartbeat']) options.heartbeat = false;
  if (v.heartbeat !== undefined) {
    const m = /^(\d+)(?:\/(\d+))?$/.exec(v.heartbeat);
    if (!m) throw new UsageError(`--heartbeat takes <intervalMs>[/<timeoutMs>], got ${JSON.stringify(v.heartbeat)}`);
    options.heartbeat = { intervalMs: Number(m[1]) };
    if (m[2] !== undefined) options.heartbeat.timeoutMs = Number(m[2]);
  }
  if (v['stall-timeout'] !== undefined) options.stallTimeoutMs = wholeNumber(v['stall-timeout'], '--stall-timeout');
  if (v['max-age'] !== undefined) options.maxConnectionAgeMs = wholeNumber(v['max-age'], '--max-age');

  if (v['no-reconnect']) {
    if (v.reconnect !== undefined) throw new UsageError('--reconnect and --no-reconnect exclude each other');
    if (v['max-attempts'] !== undefined) throw new UsageError('--max-attempts and --no-reconnect exclude each other');
    options.reconnect = false;
  } else if (v.reconnect !== undefined || v['max-attempts'] !== undefined) {
    options.reconnect = {};
    if (v.reconnect !== undefined) {
      options.reconnect.backoffMs = v.reconnect.split(',').map((d) => wholeNumber(d.trim(), '--reconnect'));
    }
    if (v['max-attempts'] !== undefined) options.reconnect.maxAttempts = wholeNumber(v['max-attempts'], '--max-attempts');
  }

  const binary = v.binary ?? 'base64';
  if (binary !== 'base64' && binary !== 'raw') throw new UsageError(`--binary takes base64 or raw, got ${JSON.stringify(binary)}`);

  return {
    url,
    options,
    binaryOut: binary,
    binaryIn: v['binary-input'] === true,
    events: v.events === true,
    stats: v.stats === true,
    connectTimeoutMs: v['connect-timeout'] === undefined ? 0 : seconds(v['connect-timeout'], '--connect-timeout'),
    waitMs: v.wait === undefined ? 0 : seconds(v.wait, '--wait'),
  };
}

function packageVersion() {
  try {
    return JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

function main() {
  let cmd;
  try {
    cmd = parseCommandLine(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) return usageExit(e.message);
    throw e;
  }
  if (cmd.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (cmd.version) {
    const { lwsVersion, lwsPatches } = require('../dist/cjs/index.js');
    process.stdout.write(
      `${NAME} ${packageVersion()} (libwebsockets ${lwsVersion} with ${lwsPatches.names.length} patches, ` +
        `set ${lwsPatches.sha256.slice(0, 12)})\n`,
    );
    return;
  }

  const { connect } = require('../dist/cjs/index.js');
  let client;
  try {
    client = connect(cmd.url, cmd.options);
  } catch (e) {
    // connect() validates synchronously: a bad URL or option value.
    return usageExit(e && e.message ? e.message : String(e));
  }
  run(client, cmd);
}

function run(client, cmd) {
  const stdin = process.stdin;
  const stdout = process.stdout;
  const NL = Buffer.from('\n');

  let stdoutBroken = false;
  let closeRequested = false; // by us: stdin end or a signal
  let signalled = false;
  let printStats = cmd.stats;
  let gaveUp; // the giveup info
  let drops = 0;
  let exiting = false;
  const pending = []; // stdin lines not yet given to send()
  let partial = []; // bytes of the line being read
  let inputEnded = false;
  let waitingDrain = false; // send() returned false: wait for 'drain'
  let waitingOpen = false; // the offline queue is full: wait for 'open'
  let everOpened = false;
  let neverConnected; // why the program ends without a connection ever opened
  let waitTimer; // --wait, after the input was sent
  let sent = 0; // lines given to send()
  let written = 0; // of those, written to the socket (or dropped)
  const onWritten = () => {
    written++;
    if (inputEnded && written === sent) pump();
  };

  const event = (name, detail = {}) => {
    if (!cmd.events) return;
    process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), event: name, ...detail })}\n`);
  };

  // ---- received messages -> stdout
  client.on('message', (data, isBinary) => {
    if (stdoutBroken) return;
    if (!isBinary) stdout.write(`${data}\n`);
    else if (cmd.binaryOut === 'raw') stdout.write(Buffer.concat([data, NL]));
    else stdout.write(`${data.toString('base64')}\n`);
  });
  stdout.on('error', (e) => {
    // The reader went away (`| head`): nothing more to print, end quietly.
    stdoutBroken = true;
    if (e.code !== 'EPIPE') process.stderr.write(`${NAME}: stdout: ${e.message}\n`);
    requestClose();
  });

  // ---- connection events
  client.on('state', (state, previous) => event('state', { state, previous }));
  client.on('open', (info) => {
    everOpened = true;
    clearTimeout(connectTimer);
    event('open', { ...info, protocol: client.protocol, extensions: client.extensions });
    pump();
  });
  // --connect-timeout: the first open must come within it.
  const connectTimer =
    cmd.connectTimeoutMs > 0
      ? setTimeout(() => endWithoutConnection(`no connection within ${cmd.connectTimeoutMs / 1000} s (--connect-timeout)`), cmd.connectTimeoutMs)
      : undefined;
  client.on('disconnect', (info) => event('disconnect', info));
  client.on('reconnecting', (info) => {
    event('reconnecting', info);
    if (!cmd.events) say(`retrying in ${info.delayMs} ms (attempt ${info.attempt})`);
  });
  client.on('giveup', (info) => {
    gaveUp = info;
    event('giveup', info);
  });
  client.on('drop', (info) => {
    drops++;
    event('drop', {
      reason: info.reason,
      isBinary: info.isBinary,
      data: info.isBinary ? info.data.toString('base64') : info.data,
    });
  });
  client.on('stall', (info) => event('stall', info));
  client.on('rotate', (info) => event('rotate', info));
  client.on('gap', (info) => event('gap', info));
  client.on('redirect', (info) => event('redirect', info));
  client.on('error', (err) => {
    const detail = { code: err.code, message: err.message };
    if (err.status !== undefined) detail.status = err.status;
    event('error', detail);
    if (!cmd.events) say(`${err.code}: ${err.message} (${err.url ?? client.url})`);
    // Input is over and no connection ever opened: nothing left to wait for.
    if (!everOpened && inputEnded) endWithoutConnection('stdin ended before a connection opened');
  });
  client.on('drain', () => {
    waitingDrain = false;
    pump();
  });
  client.on('close', (code, reason) => {
    event('close', { code, reason });
    finish(code, reason);
  });

  // ---- stdin lines -> messages, with back-pressure

  const toMessage = (bytes) => {
    if (cmd.binaryIn) return Buffer.from(bytes);
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length; // CRLF
    return bytes.toString('utf8', 0, end);
  };

  function pump() {
    if (client.state === 'open') waitingOpen = false;
    while (pending.length > 0 && !closeRequested && !waitingDrain && !waitingOpen) {
      let ok;
      try {
        ok = client.send(pending[0], { binary: cmd.binaryIn }, onWritten);
      } catch (e) {
        if (e.code === 'ERR_QUEUE_FULL') {
          waitingOpen = true; // the queue goes out on the next open
          break;
        }
        if (e.code === 'ERR_NOT_OPEN') {
          pending.length = 0; // the session is ending
          break;
        }
        throw e;
      }
      pending.shift();
      sent++;
      if (!ok) waitingDrain = true;
    }
    if (closeRequested) return;
    if (pending.length > 0 || waitingDrain) stdin.pause();
    else if (!inputEnded) stdin.resume();
    // End of input: close once everything was handed over and the session
    // is open (close() writes the queue first; before an open it would drop it).
    // With --wait, first let the replies come: once everything was written,
    // wait that long (lws discards data frames after our Close).
    if (inputEnded && pending.length === 0 && client.state === 'open') {
      if (cmd.waitMs === 0) requestClose();
      else if (waitTimer === undefined && written === sent) waitTimer = setTimeout(requestClose, cmd.waitMs);
    }
  }

  stdin.on('data', (chunk) => {
    if (closeRequested) return;
    let start = 0;
    for (let nl = chunk.indexOf(0x0a, start); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const line = partial.length > 0 ? Buffer.concat([...partial, piece]) : piece;
      partial = [];
      pending.push(toMessage(line));
      start = nl + 1;
    }
    if (start < chunk.length) partial.push(chunk.subarray(start));
    pump();
  });
  const endOfInput = () => {
    if (inputEnded) return;
    inputEnded = true;
    if (partial.length > 0) pending.push(toMessage(Buffer.concat(partial))); // a last line without newline
    partial = [];
    // An attempt already failed and none opened: do not wait out the backoff.
    if (!everOpened && client.lastError) {
      endWithoutConnection('stdin ended before a connection opened');
      return;
    }
    pump();
  };
  stdin.on('end', endOfInput);
  stdin.on('error', endOfInput);

  // ---- ending
  function requestClose() {
    if (closeRequested) return;
    closeRequested = true;
    clearTimeout(connectTimer);
    clearTimeout(waitTimer);
    pending.length = 0;
    stdin.pause();
    client.close(1000).catch(() => undefined);
  }

  // Ends the program with exit code 1: no connection ever opened.
  function endWithoutConnection(why) {
    if (everOpened || neverConnected !== undefined) return;
    neverConnected = why;
    requestClose();
  }

  // A line for the user on stderr (not with --events: those are the JSON lines).
  function say(text) {
    if (!exiting) process.stderr.write(`${NAME}: ${text}\n`);
  }

  const onSignal = (name) => {
    if (name === 'SIGINT') printStats = true;
    if (signalled) {
      client.terminate(); // second signal: do not wait for the closing handshake
      return;
    }
    signalled = true;
    if (!everOpened) endWithoutConnection(`interrupted (${name}) before a connection opened`);
    else requestClose();
  };
  process.on('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGTERM', () => onSignal('SIGTERM'));

  function finish(code, reason) {
    if (exiting) return;
    exiting = true;
    let exitCode;
    if (gaveUp || neverConnected !== undefined) exitCode = EXIT_FAILED;
    else if (closeRequested) exitCode = EXIT_OK;
    else exitCode = code === 1000 ? EXIT_OK : EXIT_FAILED;

    if (exitCode === EXIT_FAILED) {
      const why = gaveUp
        ? `gave up: ${gaveUp.reason}`
        : neverConnected ?? `connection closed with ${code}${reason ? ` (${reason})` : ''}`;
      const err = client.lastError;
      process.stderr.write(`${NAME}: ${why}${err ? `; last error: ${err.code}: ${err.message}` : ''}\n`);
    }
    if (drops > 0) process.stderr.write(`${NAME}: ${drops} outgoing message(s) were not sent\n`);
    if (printStats) process.stderr.write(`${JSON.stringify(client.stats())}\n`);
    process.exitCode = exitCode;
    // Let buffered output reach its reader, then leave (stdin may still be open).
    const leave = () => process.exit(exitCode);
    if (stdoutBroken) leave();
    else stdout.write('', () => process.stderr.write('', leave));
  }
}

main();
