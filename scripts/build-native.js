#!/usr/bin/env node
// Builds lws (once; deps/build-lws.sh keeps a stamp) and then the addon,
// with cmake-js (default in a clone) or node-gyp (--gyp, and in installs of
// the package, where cmake-js, a devDependency, is absent: npm brings its own
// node-gyp). Used by `npm install` when no prebuilt binary fits.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const resolve = (name) => {
  try {
    return require.resolve(name, { paths: [root] });
  } catch {
    return null;
  }
};
const cmakeJs = resolve('cmake-js/bin/cmake-js');
const nodeGyp = resolve('node-gyp/bin/node-gyp.js') ?? process.env.npm_config_node_gyp ?? null;
const useGyp = process.argv.includes('--gyp') || !cmakeJs;
const debug = process.argv.includes('--debug');
const sanitize = process.argv.includes('--sanitize');
const env = require('./native-env')();

function run(cmd, args) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env });
}

run('bash', [path.join(root, 'deps', 'build-lws.sh')]);
if (useGyp) {
  if (!nodeGyp) throw new Error('node-gyp not found (npm provides it to install scripts; or npm install node-gyp)');
  const args = [nodeGyp, 'rebuild'];
  if (debug) args.push('--debug');
  if (env.npm_config_nodedir) args.push(`--nodedir=${env.npm_config_nodedir}`);
  run(process.execPath, args);
} else {
  const args = [cmakeJs, 'compile'];
  if (debug) args.push('--debug');
  if (sanitize) args.push('--CDNLWS_SANITIZE=ON', '--out', 'build-sanitize');
  run(process.execPath, args);
}
