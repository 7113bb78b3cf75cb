#!/usr/bin/env python3
"""Changes to lws 4.3.5's client, applied at build time: two speed-ups of the
data path and five fixes.

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

7. permessage-deflate receive: messages split, truncated and lost
(extension-permessage-deflate.c, client-parser-ws.c). lws inflates into a
1 KiB buffer per call and ends a compressed message by giving zlib the
00 00 ff ff tail the sender stripped, in the same call that used up the
message's input, with 5 bytes of room added for what the tail produces.
But the last bytes of input can stand for more output than the room left
(with context takeover a feed compresses to a few bits per 258-byte match):
then zlib wrote 5 more bytes and kept the rest, and most of the tail, and
lws reported the message complete anyway. The kept bytes came out as the
start of the next message, and the tail left in zlib's input kept the next
frame's data from zlib (lws gives it new input only when its input is
empty): messages were cut short, merged or lost, and zlib soon failed
("invalid code lengths set", "invalid stored block lengths"). The rewrite
of that part (RX_DRAIN) gives zlib the tail in a call of its own once the
input is used up, and ends the message only when zlib has taken the whole
tail and still had room to write, handing over a buffer per call until then
(PMDR_HAS_PENDING brings lws back before any new input). That last call may
produce nothing, and the parser skipped its callback for an empty round of
a drain: it reports the round that ends a message now, and an empty round
with more to come no longer ends the drain (DRAIN_EMPTY).
A block with BFINAL set ends zlib's stream, and lws fed the messages after
it to the ended stream, which takes nothing more. Now the rest of that
message is ignored (as the tail after it is), and the next message is a new
stream over the same window (RFC 7692 7.2.2).

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

# -- 7: permessage-deflate receive ------------------------------------------

PMD_STATE_MARK = "/* node-libwebsockets: pmd state */"
PMD_STATE_ANCHOR = "\tunsigned char compressed_out:1;\n"
PMD_STATE = PMD_STATE_ANCHOR + "\t" + PMD_STATE_MARK + """
\tunsigned char rx_tail_fed:1;   /* 00 00 ff ff given to zlib */
\tunsigned char rx_stream_end:1; /* a BFINAL block ended the stream */
"""

# lws's inflate step, from hooking up input to the end of PAYLOAD_RX.
RX_DRAIN_MARK = "/* node-libwebsockets: inflate to the end of the message */"
RX_DRAIN_START = "\t\tif (!priv->rx.avail_in && pmdrx->eb_in.token && pmdrx->eb_in.len) {\n"
RX_DRAIN_END = "\tcase LWS_EXT_CB_PAYLOAD_TX:\n"
RX_DRAIN = "\t\t" + RX_DRAIN_MARK + """
\t\t(void)was_fin;
\t\tif (!priv->rx_tail_fed && !priv->rx.avail_in &&
\t\t    pmdrx->eb_in.token && pmdrx->eb_in.len) {
\t\t\tpriv->rx.next_in = (unsigned char *)pmdrx->eb_in.token;
\t\t\tpriv->rx.avail_in = (uInt)pmdrx->eb_in.len;
\t\t}

\t\tpriv->rx.next_out = priv->buf_rx_inflated + LWS_PRE;
\t\tpmdrx->eb_out.token = priv->rx.next_out;
\t\tpmdrx->eb_out.len = 0;
\t\tpriv->rx.avail_out = (uInt)(1 << priv->args[PMD_RX_BUF_PWR2]);

\t\tif (priv->rx_stream_end) {
\t\t\t/* after a BFINAL block: the rest is not DEFLATE data */
\t\t\tpriv->rx.avail_in = 0;
\t\t\tpmdrx->eb_in.token += pmdrx->eb_in.len;
\t\t\tpmdrx->eb_in.len = 0;
\t\t\tif (!wsi->ws->final || wsi->ws->rx_packet_length)
\t\t\t\treturn PMDR_EMPTY_NONFINAL;
\t\t\tgoto pmd_rx_message_end;
\t\t}

\t\tif (!priv->rx_tail_fed && !priv->rx.avail_in) {
\t\t\tif (!wsi->ws->final || wsi->ws->rx_packet_length)
\t\t\t\treturn PMDR_DID_NOTHING;
\t\t\t/* the message's input is all in: put back its tail */
\t\t\tpriv->rx_tail_fed = 1;
\t\t\tpriv->rx.next_in = trail;
\t\t\tpriv->rx.avail_in = sizeof(trail);
\t\t}

\t\tn = inflate(&priv->rx, priv->rx_tail_fed ? Z_SYNC_FLUSH : Z_NO_FLUSH);
\t\tswitch (n) {
\t\tcase Z_STREAM_END:
\t\t\t/* zlib takes nothing more; the message's rest is ignored */
\t\t\tpriv->rx_stream_end = 1;
\t\t\tpriv->rx.avail_in = 0;
\t\t\tbreak;
\t\tcase Z_NEED_DICT:
\t\tcase Z_STREAM_ERROR:
\t\tcase Z_DATA_ERROR:
\t\tcase Z_MEM_ERROR:
\t\t\tlwsl_wsi_err(wsi, "zlib error inflate %d: \\"%s\\"",
\t\t\t\t  n, priv->rx.msg);
\t\t\treturn PMDR_FAILED;
\t\t}

\t\tif (!priv->rx_tail_fed) {
\t\t\tpmdrx->eb_in.token = pmdrx->eb_in.token +
\t\t\t\t((unsigned int)pmdrx->eb_in.len -
\t\t\t\t (unsigned int)priv->rx.avail_in);
\t\t\tpmdrx->eb_in.len = (int)priv->rx.avail_in;
\t\t}
\t\tpmdrx->eb_out.len = lws_ptr_diff(priv->rx.next_out,
\t\t\t\t\t\t pmdrx->eb_out.token);

\t\tif (priv->rx_stream_end && (!wsi->ws->final ||
\t\t\t\t\t    wsi->ws->rx_packet_length))
\t\t\treturn PMDR_EMPTY_NONFINAL;

\t\tif (priv->rx_stream_end ||
\t\t    (priv->rx_tail_fed && !priv->rx.avail_in &&
\t\t     priv->rx.avail_out)) {
\t\t\t/* zlib took the tail and had room to spare: the end */
pmd_rx_message_end:
\t\t\tpriv->rx_tail_fed = 0;
\t\t\twsi->ws->pmd_trailer_application = 0;
\t\t\tpriv->count_rx_between_fin = 0;
\t\t\tif (priv->args[PMD_SERVER_NO_CONTEXT_TAKEOVER]) {
\t\t\t\t(void)inflateEnd(&priv->rx);
\t\t\t\tpriv->rx_init = 0;
\t\t\t\tpriv->rx_stream_end = 0;
\t\t\t} else if (priv->rx_stream_end) {
\t\t\t\t/*
\t\t\t\t * the next message is a new stream over the same
\t\t\t\t * window (RFC 7692 7.2.2)
\t\t\t\t */
\t\t\t\tunsigned char *w = lws_malloc(32768, "pmd window");
\t\t\t\tuInt wl = 32768;

\t\t\t\tpriv->rx_stream_end = 0;
\t\t\t\tif (!w || inflateGetDictionary(&priv->rx, w, &wl) ||
\t\t\t\t    inflateReset(&priv->rx) ||
\t\t\t\t    inflateSetDictionary(&priv->rx, w, wl)) {
\t\t\t\t\tif (w)
\t\t\t\t\t\tlws_free(w);
\t\t\t\t\treturn PMDR_FAILED;
\t\t\t\t}
\t\t\t\tlws_free(w);
\t\t\t}
\t\t\treturn PMDR_EMPTY_FINAL;
\t\t}

\t\t/* more output, input or the tail to come before new input */
\t\tif (priv->rx.avail_in || priv->rx_tail_fed ||
\t\t    (wsi->ws->final && !wsi->ws->rx_packet_length))
\t\t\treturn PMDR_HAS_PENDING;

\t\treturn PMDR_EMPTY_NONFINAL;

"""

DRAIN_EMPTY_MARK = "/* node-libwebsockets: empty drain rounds */"
DRAIN_EMPTY_ANCHOR = """\t\t\tif (rx_draining_ext && !pmdrx.eb_out.len) {
\t\t\t\tlwsl_wsi_debug(wsi, "   --- ending drain on 0 read result");
\t\t\t\tgoto already_done;
\t\t\t}
"""
DRAIN_EMPTY = "\t\t\t" + DRAIN_EMPTY_MARK + """
\t\t\t/*
\t\t\t * nothing to hand over: go on while the extension has more,
\t\t\t * but report a message's end even when its last round is
\t\t\t * empty (else the message never ends)
\t\t\t */
\t\t\tif (rx_draining_ext && !pmdrx.eb_out.len &&
\t\t\t    n == PMDR_HAS_PENDING)
\t\t\t\tcontinue;
\t\t\tif (rx_draining_ext && !pmdrx.eb_out.len &&
\t\t\t    n != PMDR_EMPTY_FINAL) {
\t\t\t\tlwsl_wsi_debug(wsi, "   --- ending drain on 0 read result");
\t\t\t\tgoto already_done;
\t\t\t}
"""

def patch_span(path, mark, start, end, replacement, what):
    """Replaces the text from `start` up to (not including) `end`."""
    text = path.read_text()
    if mark in text:
        return
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        sys.exit(f"patch-lws: span anchors not found exactly once, in order, in {path}")
    a = text.index(start)
    b = text.index(end)
    path.write_text(text[:a] + replacement + text[b:])
    print(f"patch-lws: {what} in {path}")


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
    pmd = ws / "ext" / "extension-permessage-deflate.c"
    patch(ws / "ext" / "extension-permessage-deflate.h", PMD_STATE_MARK, PMD_STATE_ANCHOR, PMD_STATE,
          "pmd state added")
    patch_span(pmd, RX_DRAIN_MARK, RX_DRAIN_START, RX_DRAIN_END, RX_DRAIN, "inflate drains to the message end")
    patch(ws / "client-parser-ws.c", DRAIN_EMPTY_MARK, DRAIN_EMPTY_ANCHOR, DRAIN_EMPTY, "empty drain rounds reported")


main()
