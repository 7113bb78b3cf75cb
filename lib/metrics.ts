// stats() in the Prometheus text exposition format (client.metrics()).
import type { Stats } from './stats';

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** The stats in the Prometheus text exposition format (version 0.0.4). */
export function toPrometheus(s: Stats, labels: Record<string, string>, prefix = 'nlws'): string {
  const base = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  const lbl = (extra: string[] = []): string => {
    const all = [...base, ...extra];
    return all.length ? `{${all.join(',')}}` : '';
  };
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, rows: Array<[string[], number]>): void => {
    lines.push(`# HELP ${prefix}_${name} ${help}`, `# TYPE ${prefix}_${name} ${type}`);
    for (const [extra, v] of rows) lines.push(`${prefix}_${name}${lbl(extra)} ${Number.isFinite(v) ? v : 0}`);
  };
  const states = ['connecting', 'open', 'reconnecting', 'closing', 'closed'];
  metric('state', 'gauge', 'Connection state (1 for the current one).', states.map((st) => [[`state="${st}"`], s.state === st ? 1 : 0]));
  metric('connects_total', 'counter', 'Connections opened.', [[[], s.connects]]);
  metric('disconnects_total', 'counter', 'Connections lost, by cause.', Object.entries(s.disconnectsByCause).map(([c, n]) => [[`cause="${escapeLabel(c)}"`], n]));
  metric('reconnect_attempts_total', 'counter', 'Reconnection attempts scheduled.', [[[], s.attempts]]);
  metric('uptime_seconds', 'gauge', 'Uptime of the current connection.', [[[], s.currentUptimeMs / 1000]]);
  metric('uptime_seconds_total', 'counter', 'Time connected.', [[[], s.totalUptimeMs / 1000]]);
  metric('downtime_seconds_total', 'counter', 'Time without a connection after the first open.', [[[], s.totalDowntimeMs / 1000]]);
  metric('longest_outage_seconds', 'gauge', 'Longest outage.', [[[], s.longestOutageMs / 1000]]);
  metric('ping_rtt_seconds', 'gauge', 'Heartbeat round-trip time (last, avg, max).', [
    [['stat="last"'], (s.rtt.lastMs ?? 0) / 1000],
    [['stat="avg"'], (s.rtt.avgMs ?? 0) / 1000],
    [['stat="max"'], (s.rtt.maxMs ?? 0) / 1000],
  ]);
  metric('messages_received_total', 'counter', 'Messages received.', [[[], s.messagesIn]]);
  metric('received_bytes_total', 'counter', 'Payload bytes received.', [[[], s.bytesIn]]);
  metric('messages_sent_total', 'counter', 'Messages written to the socket.', [[[], s.messagesOut]]);
  metric('sent_bytes_total', 'counter', 'Payload bytes written to the socket.', [[[], s.bytesOut]]);
  metric('queue_messages', 'gauge', 'Messages waiting to be written.', [[[], s.queueDepth]]);
  metric('queue_bytes', 'gauge', 'Bytes waiting to be written.', [[[], s.queueBytes]]);
  metric('drops_total', 'counter', 'Outgoing messages dropped.', [[[], s.drops]]);
  metric('stalls_total', 'counter', 'Stall watchdog firings.', [[[], s.stalls]]);
  metric('rotations_total', 'counter', 'Connection rotations (max age).', [[[], s.rotations]]);
  metric('tls_resumptions_total', 'counter', 'Opens over wss that resumed a TLS session.', [[[], s.tlsResumptions]]);
  if (s.handshake) {
    const h = s.handshake;
    const rows: Array<[string[], number]> = [
      [['phase="total"'], h.totalMs / 1000],
      [['phase="dns"'], h.dnsMs / 1000],
      [['phase="tcp"'], h.tcpMs / 1000],
    ];
    if (h.tlsMs !== undefined) rows.push([['phase="tls"'], h.tlsMs / 1000]);
    metric('handshake_seconds', 'gauge', 'Opening handshake of the latest connection, by phase.', rows);
  }
  return `${lines.join('\n')}\n`;
}
