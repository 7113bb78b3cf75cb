'use strict';
// Prints the install prefix of the pinned lws build (for binding.gyp).
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const version = /^LWS_VERSION=(.+)$/m.exec(fs.readFileSync(path.join(root, 'deps', 'lws.env'), 'utf8'))[1].trim();
process.stdout.write(path.join(root, 'deps', 'lws', version, 'install'));
