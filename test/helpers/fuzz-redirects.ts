/**
 * Redirects in the fuzzer's vocabulary: a chain of 3xx answers a fuzz case
 * puts in front of its final answer. Each hop is requested as
 * `/fuzz/<iteration>/hop/<n>` on one of two origins (the fuzz server listens
 * on 127.0.0.1 and 127.0.0.2); its Location may be valid (relative, absolute,
 * scheme-relative, same or other origin), hostile (other schemes, user info,
 * oversized hosts, paths and headers, refused ports) or malformed, and its
 * status one that is followed or not. A chain ends at its first step the
 * client cannot follow; what the client requests after that is the final
 * answer (the case's own bytes).
 */
import type { Prng } from './prng';

/** Where the fuzz server listens, for building Locations at serve time. */
export interface HopContext {
  iteration: number;
  /** The hop being answered: 0 for the first request, n for `/hop/n`. */
  hop: number;
  /** `ws://127.0.0.1:port` and `ws://127.0.0.2:port`. */
  a: string;
  b: string;
  /** The hop is answered by the 127.0.0.2 server. */
  onB: boolean;
}

export type RedirectEnding = 'end' | 'destroy' | 'hang';

export interface RedirectStep {
  /** For failure messages. */
  step: string;
  /** The response head (and body) for this hop. */
  bytes(ctx: HopContext): Buffer;
  ending: RedirectEnding;
  /** The client follows it to the next hop (if maxRedirects allows). */
  follows: boolean;
}

export interface RedirectChain {
  steps: RedirectStep[];
  /** Every step is followed and the hops fit maxRedirects: the final answer decides the outcome. */
  reachesFinal: boolean;
}

const FOLLOWED = [301, 302, 303, 307, 308];
const NOT_FOLLOWED = [300, 304, 305, 306];

/** Locations the next hop of this chain answers. */
const VALID: ReadonlyArray<readonly [number, string]> = [
  [4, 'path'],
  [2, 'relative'],
  [1, 'dot-segments'],
  [1, 'query'],
  [3, 'same-origin-url'],
  [4, 'other-origin-url'],
  [1, 'scheme-relative'],
  [1, 'upper-case-scheme'],
  [1, 'http-alias'],
  [1, 'spaces-around'],
];

/** Locations the client must refuse, or whose hop fails; the chain ends there. */
const HOSTILE: ReadonlyArray<readonly [number, string]> = [
  [1, 'javascript'],
  [1, 'file'],
  [1, 'ftp'],
  [1, 'mailto'],
  [2, 'userinfo'],
  [1, 'long-host'],
  [1, 'long-path'],
  [1, 'huge-header'],
  [1, 'unparseable'],
  [1, 'empty'],
  [1, 'fragment'],
  [2, 'refused-port'],
  [1, 'ipv6-nobody'],
  [1, 'port-out-of-range'],
  [1, 'control-char'],
  [1, 'two-locations'],
  [1, 'no-location'],
];

function next(ctx: HopContext): string {
  return `/fuzz/${ctx.iteration}/hop/${ctx.hop + 1}`;
}

function here(ctx: HopContext, onB: boolean): string {
  return onB ? ctx.b : ctx.a;
}

function validLocation(kind: string, onB: boolean, ctx: HopContext): string {
  switch (kind) {
    case 'path':
      return next(ctx);
    case 'relative':
      // From /fuzz/<i> or /fuzz/<i>/hop/<n>: the same directory logic as a browser.
      return ctx.hop === 0 ? `${ctx.iteration}/hop/1` : `${ctx.hop + 1}`;
    case 'dot-segments':
      return `/fuzz/${ctx.iteration}/x/./y/../../hop/${ctx.hop + 1}`;
    case 'query':
      return `${next(ctx)}?a=1&b=%41%ff`;
    case 'same-origin-url':
      return `${here(ctx, onB)}${next(ctx)}`;
    case 'other-origin-url':
      return `${here(ctx, !onB)}${next(ctx)}`;
    case 'scheme-relative':
      return `//${here(ctx, !onB).slice('ws://'.length)}${next(ctx)}`;
    case 'upper-case-scheme':
      return `WS://${here(ctx, !onB).slice('ws://'.length)}${next(ctx)}`;
    case 'http-alias':
      // http: is taken as ws: (WHATWG WebSocket, ws 8).
      return `http://${here(ctx, !onB).slice('ws://'.length)}${next(ctx)}`;
    default:
      return `  ${next(ctx)}\t`;
  }
}

function hostileLocation(kind: string, ctx: HopContext): string[] {
  const port = ctx.a.slice(ctx.a.lastIndexOf(':') + 1);
  switch (kind) {
    case 'javascript':
      return ['javascript:alert(1)'];
    case 'file':
      return ['file:///etc/passwd'];
    case 'ftp':
      return [`ftp://127.0.0.1:${port}${next(ctx)}`];
    case 'mailto':
      return ['mailto:a@b.example'];
    case 'userinfo':
      return [`ws://user:pw@127.0.0.1:${port}${next(ctx)}`];
    case 'long-host':
      return [`ws://${'a'.repeat(300)}.example/`];
    case 'long-path':
      return [`${next(ctx)}/${'p'.repeat(9000)}`];
    case 'huge-header':
      return [`${next(ctx)}/${'h'.repeat(20000)}`];
    case 'unparseable':
      return ['ws://[::1'];
    case 'empty':
      return [''];
    case 'fragment':
      return [`${next(ctx)}#frag`];
    case 'refused-port':
      return ['ws://127.0.0.1:1/refused'];
    case 'ipv6-nobody':
      return [`ws://[::1]:${port}${next(ctx)}`];
    case 'port-out-of-range':
      return ['ws://127.0.0.1:99999/'];
    case 'control-char':
      return [`${next(ctx)}\u0001\u007f`];
    case 'two-locations':
      return [next(ctx), `${ctx.b}${next(ctx)}`];
    default:
      return [];
  }
}

function head(status: number, locations: string[], body: Buffer, lie: boolean): Buffer {
  const lines = [`HTTP/1.1 ${status} Redirect`, ...locations.map((l) => `Location: ${l}`), `Content-Length: ${lie ? body.length * 2 + 7 : body.length}`];
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/** A chain of redirects; `maxRedirects` is the client's option (undefined: its default, 10). */
export function redirectChain(rng: Prng, maxRedirects: number | undefined): RedirectChain {
  const length = rng.weighted<number>([
    [6, 1],
    [3, 2],
    [2, 3],
    [1, rng.range(4, 13)],
  ]);
  const steps: RedirectStep[] = [];
  let followed = true;
  for (let i = 0; i < length && followed; i++) {
    const hostile = rng.chance(0.25);
    const kind = hostile ? rng.weighted(HOSTILE) : rng.weighted(VALID);
    const status = rng.chance(0.08) ? rng.pick(NOT_FOLLOWED) : rng.pick(FOLLOWED);
    const body = rng.chance(0.3) ? rng.bytes(rng.length(2048)) : Buffer.alloc(0);
    const lie = rng.chance(0.15);
    const ending = rng.weighted<RedirectEnding>([
      [6, 'end'],
      [2, 'destroy'],
      [2, 'hang'],
    ]);
    followed = !hostile && FOLLOWED.includes(status);
    steps.push({
      step: `${status} to ${kind}${body.length ? `, ${body.length}-byte body` : ''}${lie ? ' (length lies)' : ''}, then ${ending}`,
      bytes: (ctx) => head(status, hostile ? hostileLocation(kind, ctx) : [validLocation(kind, ctx.onB, ctx)], body, lie),
      ending,
      follows: followed,
    });
  }
  return { steps, reachesFinal: followed && steps.length <= (maxRedirects ?? 10) };
}
