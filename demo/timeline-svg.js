'use strict';
// The demo's timeline as a small SVG: connection state over time, each
// outage drawn from the moment the server misbehaved, with what noticed it
// and when, and the rotations. No dependencies; people would rather look at
// it than read it.

const COLORS = { open: '#2e9d5b', connecting: '#e0b43a', reconnecting: '#e0b43a', closing: '#999', closed: '#999' };

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * states: [{ at, state }] in time order; outages: [{ from, to, detectedAt,
 * label, detector }] (from: when the server misbehaved; detectedAt: when
 * the client noticed; to: back open); marks: [{ at, label }] (misbehaviour
 * the server was told to do); rotations: [at] (make-before-break switches).
 */
function timelineSvg({ start, end, states, outages, marks, rotations = [], title }) {
  const width = 900;
  const left = 20;
  const right = 20;
  const span = Math.max(1, end - start);
  const x = (t) => left + ((Math.min(Math.max(t, start), end) - start) / span) * (width - left - right);
  const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
  const parts = [];
  parts.push(`<text x="${left}" y="20" font-family="sans-serif" font-size="14" font-weight="bold">${esc(title)}</text>`);
  // State band.
  for (let i = 0; i < states.length; i++) {
    const from = states[i].at;
    const to = i + 1 < states.length ? states[i + 1].at : end;
    const color = COLORS[states[i].state] || '#999';
    parts.push(`<rect x="${x(from).toFixed(1)}" y="40" width="${Math.max(0.5, x(to) - x(from)).toFixed(1)}" height="30" fill="${color}"><title>${esc(states[i].state)}</title></rect>`);
  }
  // Outages, from the misbehaviour to the reopen, with what noticed them and when.
  outages.forEach((o, i) => {
    const x0 = x(o.from);
    const x1 = x(o.to ?? end);
    const xd = x(o.detectedAt ?? o.from);
    const text = `${o.label}: ${o.detector} after ${secs((o.detectedAt ?? o.from) - o.from)}, out ${secs((o.to ?? end) - o.from)}`;
    parts.push(`<rect x="${x0.toFixed(1)}" y="75" width="${Math.max(1, x1 - x0).toFixed(1)}" height="8" fill="#c0392b"><title>${esc(text)}</title></rect>`);
    parts.push(`<path d="M${xd.toFixed(1)} 74 l-4 -6 h8 z" fill="#111"><title>detected: ${esc(o.detector)}</title></path>`);
    parts.push(`<text x="${x0.toFixed(1)}" y="${98 + (i % 3) * 13}" font-family="sans-serif" font-size="11" fill="#c0392b">${esc(text)}</text>`);
  });
  rotations.forEach((at) => {
    const xr = x(at);
    parts.push(`<path d="M${xr.toFixed(1)} 36 l-4 -6 h8 z" fill="#2471a3"><title>rotation</title></path>`);
  });
  // What the server did.
  marks.forEach((m, i) => {
    const xm = x(m.at);
    parts.push(`<line x1="${xm.toFixed(1)}" y1="34" x2="${xm.toFixed(1)}" y2="140" stroke="#555" stroke-dasharray="3,3"/>`);
    parts.push(`<text x="${(xm + 3).toFixed(1)}" y="${150 + (i % 2) * 13}" font-family="sans-serif" font-size="11" fill="#555">${esc(m.label)}</text>`);
  });
  // Time axis in seconds.
  const seconds = Math.floor(span / 1000);
  const step = seconds > 60 ? 10 : 5;
  for (let s = 0; s <= seconds; s += step) {
    const xs = x(start + s * 1000);
    parts.push(`<text x="${xs.toFixed(1)}" y="190" font-family="sans-serif" font-size="10" fill="#333">${s}s</text>`);
  }
  const legend = [['open', COLORS.open], ['connecting / reconnecting', COLORS.reconnecting], ['outage (from the misbehaviour)', '#c0392b'], ['rotation', '#2471a3']]
    .map(([label, color], i) => `<rect x="${left + i * 210}" y="200" width="12" height="12" fill="${color}"/><text x="${left + i * 210 + 16}" y="210" font-family="sans-serif" font-size="11">${label}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="220" viewBox="0 0 ${width} 220"><rect width="100%" height="100%" fill="white"/>${parts.join('')}${legend}</svg>\n`;
}

module.exports = { timelineSvg };
