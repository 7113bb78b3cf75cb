'use strict';
// Environment for native builds: build against this Node's own headers when
// they are installed next to it, so no header download is needed.
const fs = require('node:fs');
const path = require('node:path');

module.exports = function nativeBuildEnv() {
  const env = { ...process.env };
  if (!env.npm_config_nodedir) {
    const prefix = path.resolve(path.dirname(process.execPath), '..');
    if (fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) env.npm_config_nodedir = prefix;
  }
  return env;
};
