#!/usr/bin/env node
// Writes prebuilds/<platform>-<arch>/*.node with prebuildify (N-API, stripped),
// through binding.gyp. node-gyp-build loads it in installs without a compiler.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const env = require('./native-env')();
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env });

run('bash', [path.join(root, 'deps', 'build-lws.sh')]);
const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
run(process.execPath, [prebuildify, '--napi', '--strip']);
