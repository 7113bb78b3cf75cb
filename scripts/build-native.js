#!/usr/bin/env node
// Builds lws (once; deps/build-lws.sh keeps a stamp) and then the addon,
// with cmake-js (default) or node-gyp (--gyp). Used by `npm install` when no
// prebuilt binary fits.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const useGyp = process.argv.includes('--gyp');
const debug = process.argv.includes('--debug');
const sanitize = process.argv.includes('--sanitize');
const env = require('./native-env')();

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env });
}

run('bash', [path.join(root, 'deps', 'build-lws.sh')]);
const bin = (name) => require.resolve(name, { paths: [root] });
if (useGyp) {
  const args = [bin('node-gyp/bin/node-gyp.js'), 'rebuild'];
  if (debug) args.push('--debug');
  if (env.npm_config_nodedir) args.push(`--nodedir=${env.npm_config_nodedir}`);
  run(process.execPath, args);
} else {
  const args = [bin('cmake-js/bin/cmake-js'), 'compile'];
  if (debug) args.push('--debug');
  if (sanitize) args.push('--CDNLWS_SANITIZE=ON', '--out', 'build-sanitize');
  run(process.execPath, args);
}
