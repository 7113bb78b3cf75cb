// Certificates for the native TLS layer, which links its own OpenSSL: its
// default trust store would be the build machine's, so we hand it Node's
// (`tls.rootCertificates`), making verification behave as `https` does.
import { createHash } from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { typeError } from './errors';

export interface TrustStore {
  key: string;
  der: Buffer[];
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;

/** PEM text (one or more certificates) or DER bytes, to DER certificates. */
export function toDer(input: string | Buffer, option: string): Buffer[] {
  const text = typeof input === 'string' ? input : input.subarray(0, 11).toString('latin1') === '-----BEGIN ' ? input.toString('latin1') : null;
  if (text === null) return [input as Buffer];
  const out: Buffer[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) out.push(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64'));
  if (out.length === 0) throw typeError('ERR_INVALID_OPTION', `${option}: no PEM certificate found`);
  return out;
}

function storeOf(der: Buffer[]): TrustStore {
  const h = createHash('sha256');
  for (const d of der) h.update(d);
  return { key: h.digest('hex'), der };
}

let nodeRoots: TrustStore | undefined;

/** Node's bundled root certificates, converted once. */
export function nodeTrustStore(): TrustStore {
  nodeRoots ??= storeOf(rootCertificates.flatMap((pem) => toDer(pem, 'tls.rootCertificates')));
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
