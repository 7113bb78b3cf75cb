#!/usr/bin/env python3
"""Adds a bulk-payload path to lws 4.3.5's client frame parser.

lws's client hands every received byte to lws_ws_client_rx_sm(), one call
per byte, payload included: that capped receive at ~150-200 MB/s on the
service thread (bench/NOTES.md). The code inserted here runs only in the
middle of an unmasked frame's payload: it copies, in one memcpy, all but
the last byte of what is both available and still missing from the frame
and from the receive buffer, and leaves that last byte to the state
machine, so frame ends, buffer spills, control frames and extensions stay
lws's own. Masked server frames (a protocol violation lws tolerates) and
extension draining take the per-byte path as before.

Usage: patch-lws.py <lws source dir>. Fails unless the anchor line occurs
exactly once; a second run on a patched tree changes nothing.
"""
import sys
from pathlib import Path

MARK = "/* node-libwebsockets: bulk payload */"
ANCHOR = "\t\tif (lws_ws_client_rx_sm(wsi, *(*buf)++)) {\n"
BULK = MARK + """
\t\tif (wsi->lws_rx_parse_state == LWS_RXPS_WS_FRAME_PAYLOAD &&
\t\t    !wsi->ws->this_frame_masked && wsi->ws->rx_ubuf &&
\t\t    wsi->ws->rx_packet_length > 1) {
\t\t\tsize_t cap = wsi->a.protocol->rx_buffer_size ?
\t\t\t\t(size_t)wsi->a.protocol->rx_buffer_size :
\t\t\t\t(size_t)wsi->a.context->pt_serv_buf_size;
\t\t\tsize_t n = len;

\t\t\tif (n > wsi->ws->rx_packet_length - 1)
\t\t\t\tn = wsi->ws->rx_packet_length - 1;
\t\t\tif ((size_t)wsi->ws->rx_ubuf_head + 1 >= cap)
\t\t\t\tn = 0;
\t\t\telse if (n > cap - wsi->ws->rx_ubuf_head - 1)
\t\t\t\tn = cap - wsi->ws->rx_ubuf_head - 1;
\t\t\tif (n) {
\t\t\t\tmemcpy(&wsi->ws->rx_ubuf[LWS_PRE +
\t\t\t\t\twsi->ws->rx_ubuf_head], *buf, n);
\t\t\t\twsi->ws->rx_ubuf_head += (uint32_t)n;
\t\t\t\twsi->ws->rx_packet_length -= n;
\t\t\t\t*buf += n;
\t\t\t\tlen -= n;
\t\t\t\tcontinue;
\t\t\t}
\t\t}
"""


def main():
    path = Path(sys.argv[1]) / "lib" / "roles" / "ws" / "client-ws.c"
    text = path.read_text()
    if MARK in text:
        return
    if text.count(ANCHOR) != 1:
        sys.exit(f"patch-lws: anchor not found exactly once in {path}")
    path.write_text(text.replace(ANCHOR, "\t\t" + BULK + "\n" + ANCHOR))
    print(f"patch-lws: bulk payload path added to {path}")


main()
