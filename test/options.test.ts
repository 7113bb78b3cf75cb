// Option and URL validation: every bad input throws synchronously with a
// typed error and a code, before anything reaches the native layer.
import { describe, expect, it } from 'vitest';
import { codeOf } from './helpers/thrown';
import { connect } from './lib';
import { resolveOptions } from '../dist/cjs/options/validate.js';


describe('URL validation', () => {
  it.each([
    ['not a url', 'ERR_INVALID_URL'],
    ['ftp://example.com/', 'ERR_INVALID_URL'],
    ['ws://example.com/#frag', 'ERR_INVALID_URL'],
    ['', 'ERR_INVALID_URL'],
  ])('refuses %j', (url, code) => {
    expect(codeOf(() => connect(url))).toEqual({ type: 'TypeError', code });
  });

  it('refuses non-string URLs', () => {
    expect(codeOf(() => connect(42 as unknown as string))).toEqual({ type: 'TypeError', code: 'ERR_INVALID_URL' });
  });

  it('maps URL parts onto the native record', () => {
    const r = resolveOptions('wss://user:p%40ss@example.com:8443/a/b?c=d');
    expect(r.native).toMatchObject({ host: 'example.com', port: 8443, path: '/a/b?c=d', secure: true, ipv6Literal: false });
    expect(r.native.headers).toEqual(['Authorization', `Basic ${Buffer.from('user:p@ss').toString('base64')}`]);
    // http: and https: are the WHATWG WebSocket's (and ws's) aliases.
    expect(resolveOptions('https://example.com/x').url.href).toBe('wss://example.com/x');
    expect(resolveOptions('http://example.com:8080/').native).toMatchObject({ secure: false, port: 8080 });
    const c = connect('http://127.0.0.1:1/', { reconnect: false });
    c.on('error', () => {});
    expect(c.url).toBe('ws://127.0.0.1:1/');
    c.terminate();
    const v6 = resolveOptions(new URL('ws://[::1]/'));
    expect(v6.native).toMatchObject({ host: '::1', port: 80, path: '/', ipv6Literal: true, secure: false });
  });
});

describe('option validation', () => {
  const url = 'ws://127.0.0.1:1/';
  it.each<[string, Record<string, unknown>, string, string]>([
    ['unknown option', { nope: 1 }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['header with CR/LF', { headers: { 'X-A': 'a\r\nInjected: 1' } }, 'TypeError', 'ERR_INVALID_HEADER'],
    ['header with LF', { headers: { 'X-A': 'a\nb' } }, 'TypeError', 'ERR_INVALID_HEADER'],
    ['bad header name', { headers: { 'Bad Name': 'x' } }, 'TypeError', 'ERR_INVALID_HEADER'],
    ['reserved header', { headers: { Host: 'x' } }, 'TypeError', 'ERR_INVALID_HEADER'],
    ['header value not a string', { headers: { 'X-A': {} } }, 'TypeError', 'ERR_INVALID_HEADER'],
    ['headers not an object', { headers: 'x' }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['bad subprotocol', { protocols: ['ok', 'not ok'] }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['duplicate subprotocol', { protocols: ['a', 'a'] }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['maxPayload negative', { maxPayload: -1 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    ['maxPayload fractional', { maxPayload: 1.5 }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['handshakeTimeout zero', { handshakeTimeout: 0 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    ['closeTimeout as string', { closeTimeout: '5' }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['lowWaterMark above highWaterMark', { highWaterMark: 10, lowWaterMark: 11 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    ['fragmentSize zero', { fragmentSize: 0 }, 'RangeError', 'ERR_OUT_OF_RANGE'],
    ['boolean option not boolean', { perMessageDeflate: 'yes' }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['origin with newline', { origin: 'a\nb' }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['cert without key', { cert: 'x' }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['ca without a certificate', { ca: 'nothing here' }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['servername not a DNS name', { servername: 'a b' }, 'TypeError', 'ERR_INVALID_OPTION'],
    ['proxy not http', { proxy: 'socks5://127.0.0.1:1080' }, 'TypeError', 'ERR_INVALID_PROXY'],
    ['proxy unparsable', { proxy: 'not a url' }, 'TypeError', 'ERR_INVALID_PROXY'],
    ['logger not a function', { logger: 'console' }, 'TypeError', 'ERR_INVALID_OPTION'],
  ])('refuses %s', (_name, options, type, code) => {
    expect(codeOf(() => connect(url, options))).toEqual({ type, code });
  });

  it('takes the proxy from the environment only when asked', () => {
    const saved = process.env.http_proxy;
    process.env.http_proxy = 'http://127.0.0.1:3128';
    try {
      expect(resolveOptions(url).native.proxyPort).toBe(0);
      expect(resolveOptions(url, { proxyFromEnv: true }).native).toMatchObject({ proxyHost: '127.0.0.1', proxyPort: 3128 });
    } finally {
      if (saved === undefined) delete process.env.http_proxy;
      else process.env.http_proxy = saved;
    }
  });

  it('uses Node\'s root store for wss, named by one key', () => {
    const a = resolveOptions('wss://example.com/');
    const b = resolveOptions('wss://example.org/');
    expect(a.trust?.der.length).toBeGreaterThan(50);
    expect(a.native.caKey).toBe(b.native.caKey);
    expect(resolveOptions('ws://example.com/').native.caKey).toBe('');
  });
});
