// Following a redirect: plain code deciding where the next hop goes and
// what it carries. The native session ends the attempt a 3xx answered and
// asks for the next hop's options; they are built here by the same code as
// connect()'s (parseUrl, resolveOptions), so a Location is held to the
// rules of a URL given to connect(), and each hop is a fresh connection
// with its own Host, SNI and TLS settings.
import { WebSocketError, type ErrorCode } from './errors';
import type { ConnectOptions, ResolvedOptions } from './options/types';
import { parseUrl, resolveOptions } from './options/validate';

/** What the native session reports for an attempt answered with a redirect. */
export interface RedirectRequest {
  /** The Location header as received. */
  location: string;
  /** The 3xx status (301, 302, 303, 307 or 308). */
  status: number;
  /** The attempt that was redirected. */
  from: number;
  /** This hop's number in the chain (1 for the first redirect). */
  hop: number;
}

function refuse(code: ErrorCode, message: string, from: URL, status: number, cause?: unknown): WebSocketError {
  const details: { url: string; status: number; cause?: unknown } = { url: from.href, status };
  if (cause !== undefined) details.cause = cause;
  return new WebSocketError(code, message, details);
}

/** The URL without its userinfo (what the request went to). */
function withoutCredentials(u: URL): URL {
  const out = new URL(u.href);
  out.username = '';
  out.password = '';
  return out;
}

/**
 * The options of the hop a redirect leads to, or a WebSocketError saying
 * why it is not followed: ERR_TOO_MANY_REDIRECTS (more than `maxRedirects`
 * hops), ERR_INVALID_REDIRECT (a Location connect() would refuse as a URL,
 * or with user info), ERR_REDIRECT_DOWNGRADE (wss to ws).
 *
 * `prev` is the redirected attempt's options. On the same origin (scheme,
 * host and port) the hop keeps its headers (static ones, the headers
 * function's output, the URL's Basic credentials); to another origin it
 * sends none of them, and a later hop back does not get them back (as
 * fetch and ws do). `servername` names a host: it stays only while the host
 * does. Everything else (TLS options, origin, subprotocols, proxy) is the
 * session's, as for connect().
 */
export function redirectOptions(
  prev: ResolvedOptions,
  req: RedirectRequest,
  user: ConnectOptions,
  maxRedirects: number,
): ResolvedOptions {
  const from = withoutCredentials(prev.url);
  const shown = JSON.stringify(req.location.length > 300 ? `${req.location.slice(0, 300)}…` : req.location);
  if (req.hop > maxRedirects) {
    throw refuse('ERR_TOO_MANY_REDIRECTS', `redirect ${req.hop} (to ${shown}) exceeds maxRedirects (${maxRedirects})`, from, req.status);
  }
  let resolved: string;
  try {
    // A relative Location is resolved against the URL redirected from.
    resolved = new URL(req.location, from).href;
  } catch (cause) {
    throw refuse('ERR_INVALID_REDIRECT', `redirect to ${shown} refused: not a valid URL`, from, req.status, cause);
  }
  let target: URL;
  try {
    target = parseUrl(resolved);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw refuse('ERR_INVALID_REDIRECT', `redirect to ${shown} refused: ${why}`, from, req.status, cause);
  }
  if (target.username || target.password) {
    throw refuse('ERR_INVALID_REDIRECT', `redirect to ${shown} refused: a Location must not carry user info`, from, req.status);
  }
  if (from.protocol === 'wss:' && target.protocol === 'ws:') {
    throw refuse('ERR_REDIRECT_DOWNGRADE', `redirect from wss: to ${target.href} refused: it would drop TLS`, from, req.status);
  }
  let next: ResolvedOptions;
  try {
    next = resolveOptions(target, { ...user, headers: undefined });
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw refuse('ERR_INVALID_REDIRECT', `redirect to ${target.href} refused: ${why}`, from, req.status, cause);
  }
  next.native.headers = target.origin === from.origin ? [...prev.native.headers] : [];
  next.native.servername = target.hostname === from.hostname ? prev.native.servername : '';
  return next;
}
