// The redirect rules as plain code (lib/redirect.ts): where a hop goes and
// what it carries, without servers. test/redirect.test.ts checks the same
// on the wire.
import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../dist/cjs/options/validate.js';
import { redirectOptions } from '../dist/cjs/redirect.js';

const user = { followRedirects: true, headers: { Cookie: 'c=1' }, servername: 'name.example' };

function hop(from: string, location: string, hopNo = 1, max = 10, options: Record<string, unknown> = user) {
  return redirectOptions(resolveOptions(from, options), { location, status: 302, from: 1, hop: hopNo }, options, max);
}

function headersOf(o: { native: { headers: string[] } }): string[] {
  return o.native.headers;
}

describe('redirectOptions', () => {
  it('resolves a relative Location against the URL redirected from, without its user info', () => {
    const next = hop('ws://u:p@127.0.0.1:8080/a/b?q=1', 'c?d=2');
    expect(next.url.href).toBe('ws://127.0.0.1:8080/a/c?d=2');
    // Same origin: the Basic credentials of the first URL and the headers stay.
    expect(headersOf(next)).toEqual(['Authorization', `Basic ${Buffer.from('u:p').toString('base64')}`, 'Cookie', 'c=1']);
    expect(next.native.servername).toBe('name.example');
  });

  it('to another scheme, host or port: no headers; servername only while the host stays', () => {
    const port = hop('ws://127.0.0.1:8080/', 'ws://127.0.0.1:8081/');
    expect([headersOf(port), port.native.servername]).toEqual([[], 'name.example']);
    const scheme = hop('ws://127.0.0.1:8080/', 'wss://127.0.0.1:8080/');
    expect([headersOf(scheme), scheme.native.servername, scheme.native.secure]).toEqual([[], 'name.example', true]);
    const host = hop('ws://127.0.0.1:8080/', 'ws://127.0.0.2:8080/');
    expect([headersOf(host), host.native.servername]).toEqual([[], '']);
    // The default port written out is the same origin.
    expect(headersOf(hop('ws://127.0.0.1/', 'ws://127.0.0.1:80/x'))).toEqual(['Cookie', 'c=1']);
  });

  it('gives a wss hop the TLS options and trust store of the session', () => {
    const next = hop('ws://127.0.0.1/', 'wss://127.0.0.2/', 1, 10, { followRedirects: true, allowSelfSigned: true, rejectUnauthorized: true });
    expect(next.trust?.key).toBeTruthy();
    expect(next.native.caKey).toBe(next.trust?.key);
    expect(next.native.allowSelfSigned).toBe(true);
    expect(next.native.port).toBe(443);
  });

  it.each([
    ['javascript:alert(1)', 'ERR_INVALID_REDIRECT'],
    ['ftp://127.0.0.1/', 'ERR_INVALID_REDIRECT'],
    ['ws://a:b@127.0.0.1/', 'ERR_INVALID_REDIRECT'],
    ['ws://127.0.0.1/#f', 'ERR_INVALID_REDIRECT'],
    ['ws://[::1', 'ERR_INVALID_REDIRECT'],
    [`/${'x'.repeat(9000)}`, 'ERR_INVALID_REDIRECT'],
  ])('refuses %j with %s, naming the URL redirected from and the status', (location, code) => {
    expect(() => hop('ws://u:p@127.0.0.1/start', location)).toThrow(expect.objectContaining({ code, status: 302, url: 'ws://127.0.0.1/start' }));
  });

  it('takes http: and https: Locations as ws: and wss:', () => {
    expect(hop('ws://127.0.0.1/', 'https://127.0.0.2:8443/x').url.href).toBe('wss://127.0.0.2:8443/x');
    expect(hop('ws://127.0.0.1/', 'http://127.0.0.2/y').url.href).toBe('ws://127.0.0.2/y');
    expect(hop('wss://127.0.0.1/', 'https://127.0.0.1/z').native).toMatchObject({ secure: true, port: 443 });
  });

  it('refuses wss to ws (ERR_REDIRECT_DOWNGRADE) and hops beyond maxRedirects (ERR_TOO_MANY_REDIRECTS)', () => {
    expect(() => hop('wss://127.0.0.1/', 'ws://127.0.0.1/')).toThrow(expect.objectContaining({ code: 'ERR_REDIRECT_DOWNGRADE' }));
    expect(() => hop('wss://127.0.0.1/', 'http://127.0.0.1/')).toThrow(expect.objectContaining({ code: 'ERR_REDIRECT_DOWNGRADE' }));
    expect(hop('ws://127.0.0.1/', '/x', 3, 3).url.pathname).toBe('/x');
    expect(() => hop('ws://127.0.0.1/', '/x', 4, 3)).toThrow(expect.objectContaining({ code: 'ERR_TOO_MANY_REDIRECTS' }));
  });
});
