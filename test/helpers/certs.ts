/**
 * Test PKI generated with the openssl CLI (EC P-256, so it is fast):
 * a CA plus leaf certificates for the TLS failure modes a client must report.
 *
 * OpenSSL 3.0 has no `-not_before/-not_after` on `req`/`x509` (those arrived
 * in 3.4), and `x509 -days` cannot back-date. Leaves are therefore signed with
 * a minimal `openssl ca` setup, whose `-startdate/-enddate` take explicit
 * times in every 3.x release.
 *
 * Generated once per process (cached); the temp dir is removed afterwards.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface KeyCert {
  /** PEM private key (PKCS#8). */
  key: string;
  /** PEM certificate. */
  cert: string;
}

export interface Certs {
  /** Trust anchor: give `ca.cert` to the client as its CA. */
  ca: KeyCert;
  /** CA-signed, SAN DNS:localhost, IP:127.0.0.1, IP:127.0.0.2, IP:::1, currently valid. */
  valid: KeyCert;
  /** Like `valid` but notAfter is in the past (CERT_HAS_EXPIRED). */
  expired: KeyCert;
  /** Like `valid` but notBefore is in the future (CERT_NOT_YET_VALID). */
  notYetValid: KeyCert;
  /** Self-signed, not by the CA; SAN as `valid` (DEPTH_ZERO_SELF_SIGNED_CERT). */
  selfSigned: KeyCert;
  /** CA-signed, SAN only DNS:wrong.example (ERR_TLS_CERT_ALTNAME_INVALID). */
  wrongHost: KeyCert;
  /** CA-signed client certificate (CN=test-client, clientAuth) for mutual TLS. */
  client: KeyCert;
  /**
   * CA-signed, SAN as `valid`, but for client authentication only
   * (INVALID_PURPOSE): a failure none of the allow* options covers.
   */
  wrongPurpose: KeyCert;
}

const OPENSSL = '/usr/bin/openssl';
const DAY_MS = 24 * 60 * 60 * 1000;
// 127.0.0.2: a second loopback origin (redirect tests).
const LOCAL_SAN = 'DNS:localhost, IP:127.0.0.1, IP:127.0.0.2, IP:::1';

const REQ_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
`;

const CA_CONFIG = `
[ca]
default_ca = test_ca
[test_ca]
dir = .
database = index.txt
new_certs_dir = issued
serial = serial
default_md = sha256
policy = policy_cn
unique_subject = no
email_in_dn = no
copy_extensions = none
[policy_cn]
commonName = supplied

[server_local]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${LOCAL_SAN}

[server_wrong_host]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example

[server_wrong_purpose]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = ${LOCAL_SAN}

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;

/** openssl `ca` time format: YYYYMMDDHHMMSSZ (UTC). */
function asn1Time(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

function run(dir: string, args: readonly string[]): void {
  try {
    execFileSync(OPENSSL, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  } catch (error) {
    const stderr =
      typeof error === 'object' && error !== null && 'stderr' in error && Buffer.isBuffer(error.stderr)
        ? error.stderr.toString()
        : '';
    throw new Error(`openssl ${args.join(' ')} failed: ${stderr || String(error)}`, { cause: error });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'] as const;

function generate(): Certs {
  const dir = mkdtempSync(join(tmpdir(), 'nlws-certs-'));
  try {
    writeFileSync(join(dir, 'req.cnf'), REQ_CONFIG);
    writeFileSync(join(dir, 'ca.cnf'), CA_CONFIG);
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    mkdirSync(join(dir, 'issued'));
    const read = (name: string): string => readFileSync(join(dir, name), 'utf8');

    // CA: self-signed, 10 years.
    run(dir, [
      'req', '-x509', ...EC_KEY, '-config', 'req.cnf', '-subj', '/CN=node-libwebsockets test CA',
      '-days', '3650', '-keyout', 'ca.key', '-out', 'ca.crt',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
    ]);

    const now = Date.now();
    const signed = (name: string, cn: string, extensions: string, start: number, end: number): KeyCert => {
      run(dir, ['req', '-new', ...EC_KEY, '-config', 'req.cnf', '-subj', `/CN=${cn}`,
        '-keyout', `${name}.key`, '-out', `${name}.csr`]);
      run(dir, [
        'ca', '-config', 'ca.cnf', '-batch', '-notext', '-in', `${name}.csr`, '-out', `${name}.crt`,
        '-cert', 'ca.crt', '-keyfile', 'ca.key',
        '-startdate', asn1Time(new Date(start)), '-enddate', asn1Time(new Date(end)),
        '-extfile', 'ca.cnf', '-extensions', extensions,
      ]);
      return { key: read(`${name}.key`), cert: read(`${name}.crt`) };
    };

    const valid = signed('valid', 'localhost', 'server_local', now - DAY_MS, now + 365 * DAY_MS);
    const expired = signed('expired', 'localhost', 'server_local', now - 30 * DAY_MS, now - DAY_MS);
    const notYetValid = signed('future', 'localhost', 'server_local', now + 30 * DAY_MS, now + 60 * DAY_MS);
    const wrongHost = signed('wrong', 'wrong.example', 'server_wrong_host', now - DAY_MS, now + 365 * DAY_MS);
    const client = signed('client', 'test-client', 'client', now - DAY_MS, now + 365 * DAY_MS);
    const wrongPurpose = signed('purpose', 'localhost', 'server_wrong_purpose', now - DAY_MS, now + 365 * DAY_MS);

    // Self-signed leaf. No keyUsage on purpose: a keyUsage without keyCertSign
    // makes OpenSSL stop treating the cert as self-issued, and the client would
    // report UNABLE_TO_VERIFY_LEAF_SIGNATURE instead of DEPTH_ZERO_SELF_SIGNED_CERT.
    run(dir, [
      'req', '-x509', ...EC_KEY, '-config', 'req.cnf', '-subj', '/CN=localhost',
      '-days', '365', '-keyout', 'self.key', '-out', 'self.crt',
      '-addext', 'basicConstraints=critical,CA:FALSE',
      '-addext', `subjectAltName=${LOCAL_SAN}`,
    ]);

    return {
      ca: { key: read('ca.key'), cert: read('ca.crt') },
      valid,
      expired,
      notYetValid,
      selfSigned: { key: read('self.key'), cert: read('self.crt') },
      wrongHost,
      client,
      wrongPurpose,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let cached: Certs | undefined;

/** All test certificates (generated on first call, then cached for the process). */
export function makeCerts(): Certs {
  cached ??= generate();
  return cached;
}
