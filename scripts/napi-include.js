'use strict';
// Prints the include directory of node-addon-api (header-only; for
// binding.gyp and CMakeLists.txt alike).
const path = require('node:path');

process.stdout.write(path.dirname(require.resolve('node-addon-api/package.json', { paths: [path.join(__dirname, '..')] })));
