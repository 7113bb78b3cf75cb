'use strict';
// A throwaway PKI for the TLS cells: a CA and one server certificate for
// 127.0.0.1/localhost, made with the openssl CLI (EC P-256) in a temp dir.
const { execFileSync } = require('node:child_process');
const { mkdtempSync, readFileSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

function openssl(dir, args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20000 });
}

/** Writes ca.crt, server.key, server.crt into a new temp dir and returns the paths. */
function makeCerts() {
  const dir = mkdtempSync(join(tmpdir(), 'nlws-bench-certs-'));
  writeFileSync(join(dir, 'req.cnf'), '[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = placeholder\n');
  writeFileSync(
    join(dir, 'ext.cnf'),
    'basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n' +
      'extendedKeyUsage = serverAuth\nsubjectAltName = DNS:localhost, IP:127.0.0.1\n',
  );
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(dir, ['req', '-x509', ...ec, '-config', 'req.cnf', '-subj', '/CN=nlws bench CA', '-days', '30',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(dir, ['req', '-new', ...ec, '-config', 'req.cnf', '-subj', '/CN=localhost', '-keyout', 'server.key', '-out', 'server.csr']);
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '30', '-sha256', '-extfile', 'ext.cnf', '-out', 'server.crt']);
  return { dir, ca: join(dir, 'ca.crt'), key: join(dir, 'server.key'), cert: join(dir, 'server.crt') };
}

module.exports = { makeCerts, read: (p) => readFileSync(p, 'utf8') };
