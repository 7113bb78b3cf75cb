// node-libwebsockets: a WebSocket client for long-lived connections.
import { addon } from './binding';

export { connect, type UrlInput } from './connect';
export { WebSocket } from './websocket';
export type {
  WebSocketEvents, BinaryType, RawData, UpgradeResponse, UnexpectedRequest, UnexpectedResponse, WsSendOptions,
  WsEvent, WsMessageEvent, WsCloseEvent, WsErrorEvent,
} from './websocket';
export type { WebSocketOptions, WsClientOptions, PerMessageDeflateOptions } from './ws-options';

/** The libwebsockets release the addon was built with, e.g. '4.3.5'. */
export const lwsVersion: string = addon.lwsVersion;

/**
 * Our changes to that release, applied at build time (deps/patch-lws.py):
 * the name of each and the SHA-256 of the script that applied them.
 */
export const lwsPatches: { readonly names: readonly string[]; readonly sha256: string } = addon.lwsPatches;

export { WebSocketClient, CONNECTING, OPEN, CLOSING, CLOSED } from './client';
export type {
  Message, SendData, SendOptions, SendCallback, ReadyState, WebSocketClientEvents, SessionState, OpenInfo, DisconnectInfo,
  ReconnectingInfo, GiveUpInfo, DropInfo, RedirectInfo, RotatePhase,
} from './client';
export type { ConnectOptions, LogLevel, OpenSession, ReconnectInfo, Dynamic, HeadersInput } from './options/types';
export type { HeartbeatOptions, ReconnectOptions, QueueOptions, LwsRetryPolicy } from './options/types';
export type { OverflowPolicy, JitterMode } from './wire';
export type { Stats, DisconnectRecord, LogEntry, RemoteAddress, HandshakeTimings } from './stats';
export { WebSocketError } from './errors';
export type { ErrorCode, SystemErrorCode, CertificateErrorCode, ArgumentErrorCode } from './errors';
export type { Cause } from './wire';
export type { TypedEmitter } from './typed-emitter';
export { isValidCloseCode } from './close-codes';
