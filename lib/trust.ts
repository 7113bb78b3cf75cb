// Certificates for the native TLS layer, which links its own OpenSSL: its
// default trust store would be the build machine's, so we hand it Node's
// (`tls.rootCertificates`), making verification behave as `https` does.
import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import { rootCertificates } from 'node:tls';
import { typeError } from './errors';

export interface TrustStore {
  key: string;
  der: Buffer[];
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

function checked(der: Buffer, option: string): Buffer {
  try {
    new X509Certificate(der); // parses, or throws
  } catch (cause) {
    const e = typeError('ERR_INVALID_OPTION', `${option}: not a valid X.509 certificate`);
    (e as Error & { cause?: unknown }).cause = cause;
    throw e;
  }
  return der;
}

/** PEM text (one or more certificates) or DER bytes, to checked DER certificates. */
export function toDer(input: string | Buffer, option: string, check = true): Buffer[] {
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) {
    throw typeError('ERR_INVALID_OPTION', `${option}: a certificate must be PEM text or DER bytes (string or Buffer)`);
  }
  const text = typeof input === 'string' ? input : input.subarray(0, 11).toString('latin1') === '-----BEGIN ' ? input.toString('latin1') : null;
  const out: Buffer[] = [];
  if (text === null) {
    out.push(input as Buffer);
  } else {
    for (const m of text.matchAll(PEM_BLOCK)) out.push(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
    if (out.length === 0) throw typeError('ERR_INVALID_OPTION', `${option}: no PEM certificate found`);
  }
  return check ? out.map((d) => checked(d, option)) : out;
}

function storeOf(der: Buffer[]): TrustStore {
  const h = createHash('sha256');
  for (const d of der) h.update(d);
  return { key: h.digest('hex'), der };
}

let nodeRoots: TrustStore | undefined;

/**
 * The certificates of NODE_EXTRA_CA_CERTS, which Node's `https` trusts
 * beside its roots. Node reads the file once at startup and warns itself
 * when it cannot: newer Node versions hand out what they loaded
 * (`tls.getCACertificates('extra')`), older ones get the file read here.
 */
function extraCaCertificates(): Buffer[] {
  const fromNode = (tls as { getCACertificates?: (type: string) => string[] }).getCACertificates;
  if (typeof fromNode === 'function') return fromNode('extra').flatMap((pem) => toDer(pem, 'NODE_EXTRA_CA_CERTS', false));
  const file = process.env.NODE_EXTRA_CA_CERTS;
  if (!file) return [];
  let text: string;
  try {
    text = readFileSync(file, 'latin1');
  } catch {
    return []; // Node has warned about it at startup
  }
  const out: Buffer[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    const der = Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64');
    try {
      new X509Certificate(der);
      out.push(der);
    } catch {
      // Node skips what it cannot parse too
    }
  }
  return out;
}

/** Node's default trust store: its bundled roots and NODE_EXTRA_CA_CERTS, converted once. */
export function nodeTrustStore(): TrustStore {
  // Node's own roots need no check (and parsing ~150 certificates costs time).
  nodeRoots ??= storeOf([
    ...rootCertificates.flatMap((pem) => toDer(pem, 'tls.rootCertificates', false)),
    ...extraCaCertificates(),
  ]);
  return nodeRoots;
}

type CaInput = string | Buffer | ReadonlyArray<string | Buffer>;
const cache = new WeakMap<object, TrustStore>();

/** The `ca` option as a trust store (replacing Node's roots, as in `tls`). */
export function trustStoreOf(ca: CaInput): TrustStore {
  if (typeof ca === 'object' && cache.has(ca)) return cache.get(ca) as TrustStore;
  const list = Array.isArray(ca) ? ca : [ca as string | Buffer];
  const der = list.flatMap((c) => toDer(c, 'ca'));
  if (der.length === 0) throw typeError('ERR_INVALID_OPTION', 'ca: no certificate given');
  const store = storeOf(der);
  if (typeof ca === 'object') cache.set(ca, store);
  return store;
}
