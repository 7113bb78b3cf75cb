#!/usr/bin/env python3
"""Changes to lws 4.3.5's client, applied at build time: two speed-ups of the
data path and four fixes.

1. A bulk-payload path in the client frame parser (client-ws.c).

lws's client hands every received byte to lws_ws_client_rx_sm(), one call
per byte, payload included: that capped receive at ~150-200 MB/s on the
service thread (bench/NOTES.md). The code inserted here runs only in the
middle of an unmasked frame's payload: it copies, in one memcpy, all but
the last byte of what is both available and still missing from the frame
and from the receive buffer, and leaves that last byte to the state
machine, so frame ends, buffer spills, control frames and extensions stay
lws's own. Masked server frames (a protocol violation lws tolerates) and
extension draining take the per-byte path as before.

2. Masking of outgoing payload (ops-ws.c). lws XORs each byte with
mask[mask_idx++ & 3], a struct member the compiler must store back every
byte; the replacement XORs eight bytes at a time with the key laid out
for the current index, and stores the index once. Same bytes out.

3. A leak fix in the client's upgrade (client-ws.c). Extensions accepted by
the server (permessage-deflate allocates ~300 bytes of state) are set up
before the last checks of the 101 (the accept hash, the rest of the
extension list, the extension's own parameters). When one of those fails,
the connection never becomes a websocket, so the websocket close path that
frees that state never runs: every such failed attempt leaked it. The
failure path now frees them, the one being set up included.

4. A bound in the client's upgrade (client-ws.c). lws keeps the accepted
extensions in arrays of LWS_MAX_EXTENSIONS_ACTIVE entries (1 in this
build) and did not check that bound: a 101 naming an extension twice
("permessage-deflate, permessage-deflate") wrote the second one's state past
those arrays, corrupting the heap (found by test/fuzz.test.ts). It now fails
the upgrade instead.

5. TLS with a paused reader (ops-ws.c). After a read, lws loops while
OpenSSL still holds decrypted bytes, up to 100 times, then closes the
connection as "spinning". When the connection was paused for flow control
inside that loop (our receive high-water mark), each turn only re-queued
lws's own buffered copy of the input, so a TLS connection whose JS side
fell behind was dropped with 1006 (seen in the benchmark: 16 B and 128 B
over TLS). The loop now stops when the connection is paused; the bytes stay
in OpenSSL, and lws reads them once reading resumes (its "pending TLS"
list fakes POLLIN for it then).

6. No IP literal as SNI (openssl-client.c). lws takes the SNI name from the
Host header (port cut off) and sent it whatever it was, so a wss:// URL
with an IP address put that address in the server_name extension, which
RFC 6066 section 3 forbids ("Literal IPv4 and IPv6 addresses are not
permitted in HostName"); some servers refuse such a ClientHello. An IPv4
literal, or a bracketed IPv6 one (which lws's port cutting leaves as "["),
now goes without SNI; the certificate is still checked against the address.

Usage: patch-lws.py <lws source dir>. Fails unless each anchor occurs
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

MASK_MARK = "/* node-libwebsockets: masking in locals */"
# lws's loop, which the replacement takes the place of.
MASK_LOOP = (
    "\t\t\tfor (n = 4; n < (int)len + 4; n++)\n"
    "\t\t\t\tdropmask[n] = dropmask[n] ^ wsi->ws->mask[\n"
    "\t\t\t\t\t(wsi->ws->mask_idx++) & 3];\n"
)
MASK = "\t\t\t" + MASK_MARK + """
\t\t\tuint8_t rk[8], *pl = dropmask + 4;
\t\t\tunsigned int idx = wsi->ws->mask_idx;
\t\t\tuint64_t k8, v;
\t\t\tsize_t i;

\t\t\t/* rk[j] is the key byte for payload offset j (mod 8) */
\t\t\tfor (i = 0; i < 8; i++)
\t\t\t\trk[i] = wsi->ws->mask[(idx + i) & 3];
\t\t\tmemcpy(&k8, rk, 8);
\t\t\tfor (i = 0; i + 8 <= (size_t)len; i += 8) {
\t\t\t\tmemcpy(&v, pl + i, 8);
\t\t\t\tv ^= k8;
\t\t\t\tmemcpy(pl + i, &v, 8);
\t\t\t}
\t\t\tfor (; i < (size_t)len; i++)
\t\t\t\tpl[i] ^= rk[i & 7];
\t\t\twsi->ws->mask_idx = (uint8_t)(idx + len);
"""

EXT_MARK = "/* node-libwebsockets: free extensions of a failed upgrade */"
EXT_ANCHOR = "bail2:\n\treturn 2;\n}\n"
EXT = """bail2:
#if !defined(LWS_WITHOUT_EXTENSIONS)
\t""" + EXT_MARK + """
\tif (wsi->ws) {
\t\t/* the one being set up when a check failed too */
\t\tif (wsi->ws->count_act_ext < LWS_MAX_EXTENSIONS_ACTIVE &&
\t\t    wsi->ws->act_ext_user[wsi->ws->count_act_ext])
\t\t\twsi->ws->count_act_ext++;
\t\tlws_ext_cb_active(wsi, LWS_EXT_CB_DESTROY, NULL, 0);
\t\twsi->ws->count_act_ext = 0;
\t}
#endif
\treturn 2;
}
"""

BOUND_MARK = "/* node-libwebsockets: at most LWS_MAX_EXTENSIONS_ACTIVE */"
BOUND_ANCHOR = "\t\t\twsi->ws->active_extensions[wsi->ws->count_act_ext] = ext;\n"
BOUND = "\t\t\t" + BOUND_MARK + """
\t\t\tif (wsi->ws->count_act_ext >= LWS_MAX_EXTENSIONS_ACTIVE) {
\t\t\t\t*cce = "HS: EXT: too many extensions";
\t\t\t\tgoto bail2;
\t\t\t}
""" + BOUND_ANCHOR


PAUSE_MARK = "/* node-libwebsockets: paused, stop reading */"
PAUSE_ANCHOR = "\t\tif (--sanity) {\n"
PAUSE = "\t\t" + PAUSE_MARK + """
\t\tif (lws_is_flowcontrolled(wsi))
\t\t\treturn LWS_HPI_RET_HANDLED;
""" + PAUSE_ANCHOR


SNI_MARK = "/* node-libwebsockets: no IP literal as SNI */"
SNI_ANCHOR = "\tSSL_set_tlsext_host_name(wsi->tls.ssl, hostname);\n"
SNI = "\t" + SNI_MARK + """
\t{
\t\tstruct in_addr sni_ip4;

\t\tif (hostname[0] && hostname[0] != '[' &&
\t\t    inet_pton(AF_INET, hostname, &sni_ip4) != 1)
\t\t\tSSL_set_tlsext_host_name(wsi->tls.ssl, hostname);
\t}
"""

def patch(path, mark, anchor, replacement, what):
    text = path.read_text()
    if mark in text:
        return
    if text.count(anchor) != 1:
        sys.exit(f"patch-lws: anchor not found exactly once in {path}")
    path.write_text(text.replace(anchor, replacement))
    print(f"patch-lws: {what} in {path}")


def main():
    ws = Path(sys.argv[1]) / "lib" / "roles" / "ws"
    patch(ws / "client-ws.c", MARK, ANCHOR, "\t\t" + BULK + "\n" + ANCHOR, "bulk payload path added")
    patch(ws / "ops-ws.c", MASK_MARK, MASK_LOOP, MASK, "masking loop replaced")
    patch(ws / "client-ws.c", EXT_MARK, EXT_ANCHOR, EXT, "failed upgrades free their extensions")
    patch(ws / "client-ws.c", BOUND_MARK, BOUND_ANCHOR, BOUND, "accepted extensions bounded")
    patch(ws / "ops-ws.c", PAUSE_MARK, PAUSE_ANCHOR, PAUSE, "paused TLS reads stop")
    tls = Path(sys.argv[1]) / "lib" / "tls" / "openssl"
    patch(tls / "openssl-client.c", SNI_MARK, SNI_ANCHOR, SNI, "no IP literal as SNI")


main()
