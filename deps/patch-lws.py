#!/usr/bin/env python3
"""Changes to lws 4.3.5's client, applied at build time: speed-ups of the
data path and of many connections, and fixes.

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
or IPv6 literal now goes without SNI; the certificate is still checked
against the address. The same port cutting turned a bracketed IPv6 host
("[::1]:8443") into "[", which no certificate names, so every wss:// URL
with an IPv6 literal failed the host check: a bracketed host is now taken
whole without its brackets, and checked against the certificate's IP
addresses as Node's tls does.

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

8. Failing the connection as RFC 6455 asks (client-parser-ws.c,
client-ws.c, close.c, private-lib-roles-ws.h, lws-callbacks.h,
lws-ws-close.h). lws 4.3.5 answered protocol errors it detected itself
(reserved opcodes and bits, fragmented or oversized control frames,
disordered continuations, a length with its top bit set) by dropping TCP
without a Close frame and without telling the user. Now each sets Close 1002
(7.1.7) and tells the protocol callback what it was
(LWS_CALLBACK_NLWS_PROTOCOL_ERROR, `in` = a short description). RSV2 and
RSV3 are always errors; RSV1 is one unless an extension is active, and on
control and continuation frames always (RFC 7692 6).

After a failure, and after the peer's Close, nothing more is parsed: lws
kept parsing the rest of the segment and later reads (a PING after a
violation got a PONG before our Close; a second Close frame dropped TCP
instead of the first one's echo). Returning non-zero from CLIENT_RECEIVE
did not reset the rx buffer either: when the chunk had ended because the
buffer was full, the rest of the frame was written past its end while lws
waited for the Close echo. The buffer is now reset and input discarded, and
the failure is returned as -1 (lws's permessage-deflate drain paths ignored
the positive value, so a failure there did not close the connection).

lws kept one pending PONG and dropped every PING that arrived while it was
pending (ten PINGs in a segment got one PONG). PINGs now go to the protocol
callback (LWS_CALLBACK_NLWS_RECEIVE_PING), which answers them itself.

The peer's Close: lws no longer rewrites invalid close codes to 1002 before
the user sees them (the user checks them, 7.4), and the callback may return
LWS_NLWS_HOLD_CLOSE_ECHO to send the echo itself later (after replies to
what arrived before the Close), with lws_close_reason() and a non-zero
return from WRITEABLE.

A text frame's payload received so far is handed to the user at the end of
each read (not only when the 2 KiB buffer fills or the frame ends), so
invalid UTF-8 fails the connection once the bytes received can no longer be
valid. Compressed messages are left to the inflater's pace.

A Close set by lws_close_reason() while lws still held unsent output
(a partly written frame) was skipped: lws flushed the output, then dropped
TCP. The Close now follows the output.

9. permessage-deflate send: an empty message after a non-empty one
(extension-permessage-deflate.c). A message ends with a sync flush, whose
last four bytes (00 00 ff ff) are not sent (RFC 7692 7.2.1): for an empty
message that leaves 00, an empty stored block without them. But after a
message zlib is flushed already, and a flush with no new input writes
nothing (zlib returns Z_BUF_ERROR): lws sent an empty RSV1 frame, which the
receiver's inflater, putting back 00 00 ff ff, reads as the start of a
stored block of 0xff00 bytes; the next message then fails (Python websockets
closes 1002, faye 1010, ws throws Z_DATA_ERROR). Now the flush's empty
stored block is written when zlib wrote nothing, and lws's trim leaves 00.

10. permessage-deflate: an inflate error names itself (lws-callbacks.h,
extension-permessage-deflate.c, client-parser-ws.c). lws dropped TCP on
corrupt compressed data: close 1006, as if the network had failed. zlib's
error now reaches the protocol callback as LWS_CALLBACK_NLWS_INFLATE_FAILED
(in: zlib's message), whose handler may set a close reason; lws then sends
that Close instead of dropping TCP. As after the failures of fix 8, the
receive buffer is reset (lws left it as it was on this path, and the rest of
the frame would have been written past its end) and nothing more is parsed.

11. Finding a connection by its socket (plat/unix/unix-fds.c). With
fd_limit_per_thread below the process's fd limit (we set 16,384, so that
a huge RLIMIT_NOFILE does not size lws's tables), lws keeps its fd -> wsi
table as an unordered list and searches it linearly on every socket event,
insertion and removal: with N connections each event cost O(N), and
opening 10,000 connections was quadratic (21 % of the service thread in
wsi_from_fd, 8 % in delete_from_fd). A connection now goes into the slot
its fd indexes when that fd is below the table size and the slot is free,
and is looked up there first; the linear search remains for anything else
(an fd beyond the table, a slot taken), so nothing changes in what is found.

12. A Close frame without a status code (ops-ws.c, private-lib-roles-ws.h).
RFC 6455 5.5.1 lets a Close frame have no body, and ws's close() without a
code sends exactly that (the server's echo then reports 1005). lws always
wrote a 2-byte status: lws_close_reason(wsi, LWS_CLOSE_STATUS_NO_STATUS
(1005, which must never be sent), NULL, 0) now marks the connection for an
empty Close instead, and the close path sends it (where it would send
nothing for its internal "no status", LWS_CLOSE_STATUS_NOSTATUS, 0).

13. A hook when TCP connects (connect3.c). To race the addresses of a name
(happy eyeballs), the client starts one lws connection per address and
keeps the first that connects; the others must be closed before they send
anything (no second ClientHello or upgrade request reaching a server).
lws tells the protocol LWS_CALLBACK_WSI_CREATE right when connect()
completes, before TLS and the request, but ignored the callback's answer:
a non-zero return now closes the socket there and fails the connection
("connect abandoned"), as a refused connect() would.

14. Resumable TLS sessions (openssl-ssl.c). lws (with LWS_WITH_TLS_SESSIONS)
caches a client's TLS sessions to resume them on the next connection, but
as a client it never calls SSL_shutdown(): OpenSSL's SSL_free() then takes
every connection for an unclean one and marks its session not resumable,
so the cached session was never offered again (no reconnect ever resumed).
Since TLS 1.1 an unclean close no longer forbids resumption (RFC 5246
7.2.1); a connection whose handshake completed is now marked shut down
before it is freed, which keeps its session. A failed handshake (a
certificate refused, say) never completes, so its session is not kept.

15. Reading a whole buffer per read, payload straight from it (ops-ws.c,
client-ws.c). For a client ws connection lws read at most the protocol's
rx_buffer_size per read() (rops_handle_POLLIN_ws: ebuf.len =
rx_ubuf_alloc), 2 KiB for us: a 64 KiB message cost 32 reads and 32
service rounds, and each payload byte was copied from the read buffer
(the per-thread serv_buf) into the connection's rx_ubuf before the user
saw it. A client connection now reads up to pt_serv_buf_size (the
per-thread buffer, 64 KiB) at a time, and the frame parser hands the
payload of an uncompressed data frame to the user straight from that
buffer (LWS_CALLBACK_CLIENT_RECEIVE with a span of it, as many bytes as
the read holds, up to the frame's end), without staging it in rx_ubuf.
That path runs only in the middle of an established connection's
unmasked TEXT, BINARY or CONTINUATION frame whose message is not
compressed, with nothing staged in rx_ubuf, and lws's own UTF-8 check off;
frame headers, control frames (staged: PING, PONG, Close are at most 125
bytes), compressed messages (the inflater reads rx_ubuf) and closing
connections keep lws's path. Nothing else changes around the callback:
lws_is_final_fragment() and lws_remaining_packet_payload() hold as for a
spill (the frame's remaining length is decremented first), the first
fragment flag is cleared after it, a non-zero return fails the connection
as fix 8 does, and when the callback pauses the connection (rx flow
control) the loop's flow-control check caches the rest of the read in
lws's buflist as before. lws does not write the NUL it puts after a
spill's payload (it would land on the next frame's first byte). rx_ubuf
still exists (control frames, compressed input), so rx_buffer_size can be
small.

16. TLS with OpenSSL's read-ahead (openssl-ssl.c). OpenSSL reads a record
header and then its body, two read() calls per record of at most 16 KiB;
with read-ahead on (the addon sets it, with a 64 KiB read buffer and
SSL_MODE_RELEASE_BUFFERS, on each client SSL_CTX) one read() takes as many
records as the buffer holds. lws decided whether OpenSSL still held data
with SSL_pending(), which counts only the rest of the record being
decrypted: whole records waiting in the read-ahead buffer were invisible
to it, and since the socket is drained they would never raise POLLIN (the
connection would stall). lws_ssl_pending() and the "pending TLS" list
(which fakes POLLIN) now use SSL_has_pending(), which counts them; when
what is buffered is only part of a record, SSL_read() asks for more
(WANT_READ) and the connection leaves that list, so the socket's next
POLLIN brings the rest and the service loop does not spin meanwhile.
lws's read loop (ops-ws.c) goes on while lws_ssl_pending() says so and
closed the connection as "spinning" after 100 turns; a read-ahead buffer
can hold far more than 100 small records (a server writing each small
message as a record of its own), so after 100 turns it now returns and
lets the pending list bring the connection back in the next service
round, after the other connections had theirs.

17. Masking keys from a pool (ops-ws.c). lws read a frame's 4-byte
masking key from /dev/urandom with one read() per frame sent: a system
call per message. Keys now come from a per-thread pool of 4 KiB (1,024
keys) filled from the same source in one read() when empty; a key taken
is wiped from the pool. Keys stay unpredictable (RFC 6455 5.3: from a
strong source of entropy, not derivable by the server or the application)
since every key is fresh CSPRNG output used once; the pool only batches
the reads.

18. The per-connection receive buffer only when needed (client-ws.c,
client-parser-ws.c). lws allocated rx_ubuf (rx_buffer_size, 2 KiB for us)
for every client connection at the upgrade. Since data-frame payload goes
to the user straight from the read buffer (15), rx_ubuf only stages
control frames, compressed input and what lws parses in its closing
states: it is now allocated when the parser first stages a payload byte
or spills a frame (an empty frame too), and freed again after a control
frame (PING, PONG, Close) while no compressed message is being inflated,
so an idle connection holds none (-2 KB each). rx_ubuf_alloc keeps its
value from the upgrade (lws sizes reads and pending TLS data by it).

19. Messages that arrive after our Close (client-parser-ws.c, client-ws.c).
Once the client had sent its Close, lws dropped every data frame until the
server's Close: a server still flushing what it had queued when our Close
came (an echo, the end of a feed) lost those messages, which ws and Python
websockets deliver (RFC 6455 5.5.1 forbids sending data after a Close, not
receiving it). Data frames are now handed over while our Close awaits its
answer (LRS_AWAITING_CLOSE_ACK, and LRS_WAITING_TO_SEND_CLOSE when the Close
is ours, close_needs_ack); after the server's Close (LRS_RETURNED_CLOSE, or
its echo pending) they are still dropped. The addon ignores data on a
connection it failed (native receive path), so a Close 1002/1007/1009 of
ours still ends delivery at once.

Last, the set of changes applied is recorded in lws itself (in
lib/core/libwebsockets.c): nlws_lws_patch_set() returns the name of each
change (its mark) and the SHA-256 of this script, which the addon reports as
`lwsPatches` beside the plain lws version. lws's own version string carries
the git commit of the tree it was built in (ours), not its own release.

Usage: patch-lws.py <lws source dir>. Fails unless each anchor occurs
exactly once; a second run on a patched tree changes nothing.
"""
import hashlib
import sys
from pathlib import Path

# Names of the changes applied (or found applied), in order.
APPLIED = []

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


FD_LOOKUP_MARK = "/* node-libwebsockets: fd slot first (lookup) */"
FD_LOOKUP_ANCHOR = (
    "wsi_from_fd(const struct lws_context *context, int fd)\n{\n"
    "\tstruct lws **p, **done;\n\n"
    "\tif (!context->max_fds_unrelated_to_ulimit)\n"
    "\t\treturn context->lws_lookup[fd - lws_plat_socket_offset()];\n"
)
FD_LOOKUP = FD_LOOKUP_ANCHOR + "\n\t" + FD_LOOKUP_MARK + """
\tif (fd >= 0 && (unsigned int)fd < context->max_fds &&
\t    context->lws_lookup[fd] && context->lws_lookup[fd]->desc.sockfd == fd)
\t\treturn context->lws_lookup[fd];
"""

FD_INSERT_MARK = "/* node-libwebsockets: fd slot first (insert) */"
FD_INSERT_ANCHOR = "\t/* find an empty slot */\n\n\twhile (p != done && *p)\n"
FD_INSERT = "\t" + FD_INSERT_MARK + """
\tif (wsi->desc.sockfd >= 0 &&
\t    (unsigned int)wsi->desc.sockfd < context->max_fds &&
\t    !context->lws_lookup[wsi->desc.sockfd]) {
\t\tcontext->lws_lookup[wsi->desc.sockfd] = wsi;
\t\treturn 0;
\t}

""" + FD_INSERT_ANCHOR

FD_DELETE_MARK = "/* node-libwebsockets: fd slot first (delete) */"
FD_DELETE_ANCHOR = "\t/* find the match */\n\n\twhile (p != done && (!*p || (*p)->desc.sockfd != fd))\n"
FD_DELETE = "\t" + FD_DELETE_MARK + """
\tif (fd >= 0 && (unsigned int)fd < context->max_fds && p[fd] &&
\t    p[fd]->desc.sockfd == fd) {
\t\tp[fd] = NULL;
\t\treturn;
\t}

""" + FD_DELETE_ANCHOR

FD_DELETE_WSI_MARK = "/* node-libwebsockets: fd slot first (delete wsi) */"
FD_DELETE_WSI_ANCHOR = "\twhile (p != done && (!*p || (*p) != wsi))\n"
FD_DELETE_WSI = "\t" + FD_DELETE_WSI_MARK + """
\tif (wsi->desc.sockfd >= 0 &&
\t    (unsigned int)wsi->desc.sockfd < context->max_fds &&
\t    p[wsi->desc.sockfd] == wsi) {
\t\tp[wsi->desc.sockfd] = NULL;
\t\treturn;
\t}

""" + FD_DELETE_WSI_ANCHOR


EMPTY_FIELD_MARK = "/* node-libwebsockets: empty Close (flag) */"
EMPTY_FIELD_ANCHOR = "\tuint8_t close_in_ping_buffer_len;\n"
EMPTY_FIELD = EMPTY_FIELD_ANCHOR + "\t" + EMPTY_FIELD_MARK + "\n\tuint8_t nlws_empty_close;\n"

EMPTY_REASON_MARK = "/* node-libwebsockets: empty Close (asked) */"
EMPTY_REASON_ANCHOR = "\tassert(lwsi_role_ws(wsi));\n\n\tstart = p = &wsi->ws->ping_payload_buf[LWS_PRE];\n"
EMPTY_REASON = "\tassert(lwsi_role_ws(wsi));\n\n\t" + EMPTY_REASON_MARK + """
\twsi->ws->nlws_empty_close = status == LWS_CLOSE_STATUS_NO_STATUS && !buf;
\tif (wsi->ws->nlws_empty_close) {
\t\twsi->ws->close_in_ping_buffer_len = 0;
\t\treturn;
\t}
\tstart = p = &wsi->ws->ping_payload_buf[LWS_PRE];
"""

EMPTY_SEND_MARK = "/* node-libwebsockets: empty Close (sent) */"
EMPTY_SEND_ANCHOR = (
    "\tif (!wsi->ws->close_in_ping_buffer_len && /* already a reason */\n"
    "\t     (reason == LWS_CLOSE_STATUS_NOSTATUS ||\n"
)
EMPTY_SEND = "\t" + EMPTY_SEND_MARK + """
\tif (!wsi->ws->close_in_ping_buffer_len && !wsi->ws->nlws_empty_close &&
\t     (reason == LWS_CLOSE_STATUS_NOSTATUS ||
"""
EMPTY_DEFAULT_MARK = "/* node-libwebsockets: empty Close (kept) */"
EMPTY_DEFAULT_ANCHOR = "\tif (!wsi->ws->close_in_ping_buffer_len) {\n\t\twsi->ws->close_in_ping_buffer_len = 2;\n"
EMPTY_DEFAULT = "\t" + EMPTY_DEFAULT_MARK + """
\tif (!wsi->ws->close_in_ping_buffer_len && !wsi->ws->nlws_empty_close) {
\t\twsi->ws->close_in_ping_buffer_len = 2;
"""

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

# What the inflate step does when zlib fails (fix 10).
INFLATE_FAILED = """if (wsi->a.protocol && wsi->a.protocol->callback) {
\t\t\t\tconst char *zm = priv->rx.msg ? priv->rx.msg :
\t\t\t\t\t\t\t\t"inflate failed";

\t\t\t\twsi->a.protocol->callback(wsi,
\t\t\t\t\tLWS_CALLBACK_NLWS_INFLATE_FAILED,
\t\t\t\t\twsi->user_space, (void *)zm, strlen(zm));
\t\t\t}
\t\t\treturn PMDR_FAILED;"""

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
\t\t\t""" + INFLATE_FAILED + """
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

# -- 9: permessage-deflate send ---------------------------------------------

EMPTY_MARK = "/* node-libwebsockets: an empty message after a flushed one */"
EMPTY_ANCHOR = """\t\tif (m == Z_SYNC_FLUSH && !(len & LWS_WRITE_NO_FIN) && !pen &&
\t\t    pmdrx->eb_out.len < 4) {
"""
EMPTY = "\t\t" + EMPTY_MARK + """
\t\tif (m == Z_SYNC_FLUSH && !pen && !pmdrx->eb_out.len) {
\t\t\t/*
\t\t\t * zlib, flushed already, wrote nothing: write the empty
\t\t\t * stored block a flush makes (its tail is cut below)
\t\t\t */
\t\t\tstatic const unsigned char flush[] = { 0, 0, 0, 0xff, 0xff };

\t\t\tmemcpy(priv->tx.next_out, flush, sizeof(flush));
\t\t\tpriv->tx.next_out += sizeof(flush);
\t\t\tpriv->tx.avail_out -= (uInt)sizeof(flush);
\t\t\tpmdrx->eb_out.len = (int)sizeof(flush);
\t\t}
""" + EMPTY_ANCHOR

# -- 10: permessage-deflate inflate errors -----------------------------------

INFLATE_CB_MARK = "/* node-libwebsockets: inflate failed */"
INFLATE_CB_ANCHOR = "\t/****** add new things just above ---^ ******/\n"
INFLATE_CB = "\t" + INFLATE_CB_MARK + """
\tLWS_CALLBACK_NLWS_INFLATE_FAILED		= 1003,
\t/**< permessage-deflate could not inflate what the peer sent; in is
\t * zlib's message. Set a close reason (lws_close_reason()) to have lws
\t * close with it; else it drops the connection. The return is ignored.
\t */

""" + INFLATE_CB_ANCHOR

EXT_FAIL_MARK = "/* node-libwebsockets: close with the reason set */"
EXT_FAIL_ANCHOR = """\t\t\tif (n < 0) {
\t\t\t\twsi->socket_is_permanently_unusable = 1;
\t\t\t\treturn -1;
\t\t\t}
"""
EXT_FAIL = """\t\t\tif (n < 0) {
\t\t\t\t""" + EXT_FAIL_MARK + """
\t\t\t\twsi->ws->rx_ubuf_head = 0;
\t\t\t\twsi->ws->nlws_rx_done = 1;
\t\t\t\tlws_remove_wsi_from_draining_ext_list(wsi);
\t\t\t\tif (!wsi->ws->close_in_ping_buffer_len)
\t\t\t\t\twsi->socket_is_permanently_unusable = 1;
\t\t\t\treturn -1;
\t\t\t}
"""


# -- 15: whole-buffer reads, payload straight from the read buffer ---------

READ_SIZE_MARK = "/* node-libwebsockets: a client reads a whole buffer */"
READ_SIZE_ANCHOR = (
    "\t\tif (lwsi_role_ws(wsi))\n"
    "\t\t\tebuf.len = (int)wsi->ws->rx_ubuf_alloc;\n"
)
READ_SIZE = "\t\t" + READ_SIZE_MARK + """
\t\tif (lwsi_role_ws(wsi) && !lwsi_role_client(wsi))
\t\t\tebuf.len = (int)wsi->ws->rx_ubuf_alloc;
"""

DIRECT_MARK = "/* node-libwebsockets: payload straight from the read buffer */"
DIRECT_ANCHOR = "\t\t/* node-libwebsockets: bulk payload */\n"
DIRECT = "\t\t" + DIRECT_MARK + """
\t\tif (wsi->lws_rx_parse_state == LWS_RXPS_WS_FRAME_PAYLOAD &&
\t\t    wsi->ws->rx_packet_length && !wsi->ws->rx_ubuf_head &&
\t\t    !wsi->ws->this_frame_masked && !(wsi->ws->opcode & 8) &&
\t\t    !(wsi->ws->rsv_first_msg & 0x40) && !wsi->ws->check_utf8 &&
\t\t    (lwsi_state(wsi) == LRS_ESTABLISHED ||
\t\t     lwsi_state(wsi) == LRS_AWAITING_CLOSE_ACK) &&
\t\t    wsi->a.protocol && wsi->a.protocol->callback) {
\t\t\tunsigned char *span = *buf;
\t\t\tsize_t n = len;
\t\t\tint m;

\t\t\tif (n > wsi->ws->rx_packet_length)
\t\t\t\tn = wsi->ws->rx_packet_length;
\t\t\twsi->ws->rx_packet_length -= n;
\t\t\tif (!wsi->ws->rx_packet_length)
\t\t\t\twsi->lws_rx_parse_state = LWS_RXPS_NEW;
\t\t\t*buf += n;
\t\t\tlen -= n;
\t\t\tm = wsi->a.protocol->callback(wsi, LWS_CALLBACK_CLIENT_RECEIVE,
\t\t\t\t\t\twsi->user_space, span, n);
\t\t\twsi->ws->first_fragment = 0;
\t\t\tif (m) {
\t\t\t\twsi->ws->nlws_rx_done = 1;
\t\t\t\treturn -1;
\t\t\t}
\t\t\tcontinue;
\t\t}

""" + DIRECT_ANCHOR


# -- 19: data after our Close ------------------------------------------------

AFTER_CLOSE_MARK = "/* node-libwebsockets: data while our Close awaits its answer */"
AFTER_CLOSE_ANCHOR = """\t\t\tif (lwsi_state(wsi) == LRS_RETURNED_CLOSE ||
\t\t\t    lwsi_state(wsi) == LRS_WAITING_TO_SEND_CLOSE ||
\t\t\t    lwsi_state(wsi) == LRS_AWAITING_CLOSE_ACK)
\t\t\t\tgoto already_done;
"""
AFTER_CLOSE = "\t\t\t" + AFTER_CLOSE_MARK + """
\t\t\tif (lwsi_state(wsi) == LRS_RETURNED_CLOSE ||
\t\t\t    (lwsi_state(wsi) == LRS_WAITING_TO_SEND_CLOSE &&
\t\t\t     !wsi->close_needs_ack))
\t\t\t\tgoto already_done;
"""

# -- 16: TLS read-ahead ---------------------------------------------------

RA_MARK = "/* node-libwebsockets: read-ahead (buffered records) */"
RA_SANITY = """		else
			/*
			 * Something has gone wrong, we are spinning...
			 * let's bail on this connection
			 */
			return LWS_HPI_RET_PLEASE_CLOSE_ME;
"""
RA_NEXT_MARK = "/* node-libwebsockets: read-ahead (next round) */"
RA_SANITY_NEW = """		else
			""" + RA_NEXT_MARK + """
			/*
			 * more records wait in the read-ahead buffer: the
			 * pending TLS list brings this connection back next
			 * round, after the others
			 */
			return LWS_HPI_RET_HANDLED;
"""
RA_PAIRS = [
    ("""	if (n != (int)(ssize_t)len)
		goto bail;
	if (!wsi->tls.ssl)
		goto bail;

	if (SSL_pending(wsi->tls.ssl)) {
""", """	""" + RA_MARK + """
	if (!wsi->tls.ssl)
		goto bail;

	if (SSL_has_pending(wsi->tls.ssl)) {
"""),
    ("""		if (SSL_want_read(wsi->tls.ssl)) {
			lwsl_debug("%s: WANT_READ\\n", __func__);
""", """		if (SSL_want_read(wsi->tls.ssl)) {
			/* only part of a record buffered: POLLIN brings the rest */
			lws_ssl_remove_wsi_from_buffered_list(wsi);
			lwsl_debug("%s: WANT_READ\\n", __func__);
"""),
    ("""	if (!wsi->tls.ssl)
		return 0;

	return SSL_pending(wsi->tls.ssl);
""", """	if (!wsi->tls.ssl)
		return 0;

	if (SSL_pending(wsi->tls.ssl))
		return SSL_pending(wsi->tls.ssl);

	/* whole records in the read-ahead buffer: read them as usual */
	return SSL_has_pending(wsi->tls.ssl) ?
			(int)wsi->a.context->pt_serv_buf_size : 0;
"""),
]


# -- 18: the receive buffer only when needed --------------------------------

LAZY_MARK = "/* node-libwebsockets: rx buffer when needed */"
LAZY_UPGRADE_ANCHOR = """	n += LWS_PRE;
	wsi->ws->rx_ubuf = lws_malloc((unsigned int)n + 4 /* 0x0000ffff zlib */,
				"client frame buffer");
	if (!wsi->ws->rx_ubuf) {
		lwsl_wsi_err(wsi, "OOM allocating rx buffer %d", n);
		*cce = "HS: OOM";
		goto bail2;
	}
	wsi->ws->rx_ubuf_alloc = (unsigned int)n;
"""
LAZY_UPGRADE = """	n += LWS_PRE;
	""" + LAZY_MARK + """
	/* allocated by the parser when it first stages something */
	wsi->ws->rx_ubuf_alloc = (unsigned int)n;
"""
LAZY_PARSER = [
    ("int lws_ws_client_rx_sm(struct lws *wsi, unsigned char c)\n{\n",
     LAZY_MARK + """
static int
nlws_rx_ubuf(struct lws *wsi)
{
	if (wsi->ws->rx_ubuf)
		return 0;
	wsi->ws->rx_ubuf = lws_malloc(wsi->ws->rx_ubuf_alloc + 4,
				      "client frame buffer");
	return !wsi->ws->rx_ubuf;
}

int lws_ws_client_rx_sm(struct lws *wsi, unsigned char c)
{
"""),
    ("""		assert(wsi->ws->rx_ubuf);
#if !defined(LWS_WITHOUT_EXTENSIONS)
		if (wsi->ws->rx_draining_ext)
			goto drain_extension;
#endif
""", """#if !defined(LWS_WITHOUT_EXTENSIONS)
		if (wsi->ws->rx_draining_ext)
			goto drain_extension;
#endif
		if (nlws_rx_ubuf(wsi))
			return -1;
"""),
    ("""spill:

		handled = 0;
""", """spill:

		handled = 0;
		if (nlws_rx_ubuf(wsi))
			return -1;
"""),
    ("""already_done:
		wsi->ws->rx_ubuf_head = 0;
""", """already_done:
		wsi->ws->rx_ubuf_head = 0;
		/* a control frame is done with: an idle connection holds none */
		if ((wsi->ws->opcode & 8) && wsi->ws->rx_ubuf
#if !defined(LWS_WITHOUT_EXTENSIONS)
		    && !wsi->ws->rx_draining_ext && !wsi->ws->continuation_possible
#endif
		    )
			lws_free_set_NULL(wsi->ws->rx_ubuf);
"""),
]


# -- 17: masking keys from a pool -----------------------------------------

MASK_POOL_MARK = "/* node-libwebsockets: masking keys from a pool */"
MASK_POOL_ANCHOR = """	size_t n;
	/* fetch the per-frame nonce */

	n = lws_get_random(lws_get_context(wsi), wsi->ws->mask, 4);
	if (n != 4) {
		lwsl_parser("Unable to read from random device %s %d\\n",
			    SYSTEM_RANDOM_FILEPATH, (int)n);
		return 1;
	}
"""
MASK_POOL = """	""" + MASK_POOL_MARK + """
	static __thread uint8_t pool[4096];
	static __thread size_t left;
	size_t n;

	if (left < 4) {
		n = lws_get_random(lws_get_context(wsi), pool, sizeof(pool));
		if (n != sizeof(pool)) {
			lwsl_parser("Unable to read from random device %s %d\\n",
				    SYSTEM_RANDOM_FILEPATH, (int)n);
			return 1;
		}
		left = sizeof(pool);
	}
	left -= 4;
	memcpy(wsi->ws->mask, &pool[left], 4);
	memset(&pool[left], 0, 4);
"""


def patch_span(path, mark, start, end, replacement, what):
    """Replaces the text from `start` up to (not including) `end`."""
    APPLIED.append(mark.replace("/* node-libwebsockets:", "").replace("*/", "").strip())
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
\t\tstruct in6_addr sni_ip6;

\t\tif (hostname[0] &&
\t\t    inet_pton(AF_INET, hostname, &sni_ip4) != 1 &&
\t\t    inet_pton(AF_INET6, hostname, &sni_ip6) != 1)
\t\t\tSSL_set_tlsext_host_name(wsi->tls.ssl, hostname);
\t}
"""

# The name the certificate is checked against comes from the Host header,
# cut at its first ':' to drop the port: "[::1]:8443" became "[", which
# no certificate names, so an IPv6 literal URL always failed the check.
# A bracketed host is taken whole, without its brackets, so
# X509_VERIFY_PARAM_set1_ip_asc() checks it against the IP addresses of
# the certificate (as Node's tls does), and the SNI rule above leaves it out.
IPV6_HOST_MARK = "/* node-libwebsockets: bracketed IPv6 host */"
IPV6_HOST_ANCHOR = """\tp = hostname;
\twhile (*p) {
\t\tif (*p == ':') {
\t\t\t*p = '\\0';
\t\t\tbreak;
\t\t}
\t\tp++;
\t}
"""
IPV6_HOST = "\t" + IPV6_HOST_MARK + """
\tif (hostname[0] == '[') {
\t\tchar *close_bracket = strchr(hostname, ']');

\t\tif (!close_bracket)
\t\t\treturn -1;
\t\tmemmove(hostname, hostname + 1,
\t\t\t(size_t)(close_bracket - hostname - 1));
\t\thostname[close_bracket - hostname - 1] = '\\0';
\t} else {
""" + IPV6_HOST_ANCHOR + "\t}\n"


FAIL_MARK = "/* node-libwebsockets: failing the connection */"

FAIL_CALLBACKS = [(
    "\tLWS_CALLBACK_USER = 1000,\n"
    "\t/**<  user code can use any including above without fear of clashes */\n",
    "\tLWS_CALLBACK_USER = 1000,\n"
    "\t/**<  user code can use any including above without fear of clashes */\n"
    "\t" + FAIL_MARK + "\n"
    "\tLWS_CALLBACK_NLWS_RECEIVE_PING = 1001,\n"
    "\t/**< a PING (in, len: its payload); lws no longer answers PINGs */\n"
    "\tLWS_CALLBACK_NLWS_PROTOCOL_ERROR = 1002,\n"
    "\t/**< lws failed the connection with Close 1002; in: what it saw */\n",
)]

FAIL_HOLD = [(
    "LWS_VISIBLE LWS_EXTERN void\n"
    "lws_close_reason(struct lws *wsi, enum lws_close_status status,\n",
    FAIL_MARK + "\n"
    "/* Returned from LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: lws does not echo\n"
    " * the Close; the user sends it later with lws_close_reason() and a\n"
    " * non-zero return from WRITEABLE. */\n"
    "#define LWS_NLWS_HOLD_CLOSE_ECHO 0x4e6c\n\n"
    "LWS_VISIBLE LWS_EXTERN void\n"
    "lws_close_reason(struct lws *wsi, enum lws_close_status status,\n",
)]

FAIL_STATE = [(
    "\tunsigned int peer_has_sent_close:1;\n",
    "\tunsigned int peer_has_sent_close:1;\n"
    "\t" + FAIL_MARK + "\n"
    "\tunsigned int nlws_rx_done:1; /* failed or Close seen: parse nothing more */\n"
    "\tunsigned int nlws_spill_now:1; /* hand the text received so far over */\n",
)]

FAIL_PARSER = [
    # The helper every lws-detected protocol error goes through.
    ("int lws_ws_client_rx_sm(struct lws *wsi, unsigned char c)\n{\n",
     FAIL_MARK + """
static int
nlws_protocol_error(struct lws *wsi, const char *why)
{
	lwsl_wsi_info(wsi, "protocol error: %s", why);
	lws_close_reason(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, NULL, 0);
	wsi->ws->nlws_rx_done = 1;
	wsi->ws->rx_ubuf_head = 0;
	if (wsi->a.protocol && wsi->a.protocol->callback)
		wsi->a.protocol->callback(wsi, LWS_CALLBACK_NLWS_PROTOCOL_ERROR,
					  wsi->user_space, (void *)why,
					  strlen(why));
	return -1;
}

int lws_ws_client_rx_sm(struct lws *wsi, unsigned char c)
{
"""),
    # Nothing is parsed after a failure or the peer's Close; a spill of
    # the text received so far is asked for by the read loop.
    ("\tpmdrx.eb_out.len = 0;\n\n#if !defined(LWS_WITHOUT_EXTENSIONS)\n\tif (wsi->ws->rx_draining_ext) {\n\t\tassert(!c);\n",
     """\tpmdrx.eb_out.len = 0;

	if (wsi->ws->nlws_rx_done) {
#if !defined(LWS_WITHOUT_EXTENSIONS)
		if (wsi->ws->rx_draining_ext)
			lws_remove_wsi_from_draining_ext_list(wsi);
#endif
		wsi->ws->nlws_spill_now = 0;
		return 0;
	}
	if (wsi->ws->nlws_spill_now) {
		wsi->ws->nlws_spill_now = 0;
		if (wsi->lws_rx_parse_state == LWS_RXPS_WS_FRAME_PAYLOAD &&
		    wsi->ws->rx_ubuf_head)
			goto spill;
		return 0;
	}

#if !defined(LWS_WITHOUT_EXTENSIONS)
	if (wsi->ws->rx_draining_ext) {
		assert(!c);
"""),
    ("\t\t\t\t\tlwsl_wsi_info(wsi, \"disordered continuation\");\n\t\t\t\t\treturn -1;\n",
     "\t\t\t\t\treturn nlws_protocol_error(wsi,\n\t\t\t\t\t\t\"continuation frame with no message to continue\");\n"),
    ("\t\t\t\tlwsl_wsi_info(wsi, \"illegal opcode\");\n\t\t\t\treturn -1;\n",
     "\t\t\t\treturn nlws_protocol_error(wsi, \"reserved opcode\");\n"),
    ("""			if (
#if !defined(LWS_WITHOUT_EXTENSIONS)
				!wsi->ws->count_act_ext &&
#endif
				wsi->ws->rsv) {
				lwsl_wsi_info(wsi, "illegal rsv bits set");
				return -1;
			}
""",
     """			if (wsi->ws->rsv & 0x30)
				return nlws_protocol_error(wsi, "RSV2 or RSV3 set");
			if ((wsi->ws->rsv & 0x40) &&
			    (wsi->ws->opcode != LWSWSOPC_TEXT_FRAME &&
			     wsi->ws->opcode != LWSWSOPC_BINARY_FRAME))
				return nlws_protocol_error(wsi,
				  "RSV1 set on a control or continuation frame");
			if (
#if !defined(LWS_WITHOUT_EXTENSIONS)
				!wsi->ws->count_act_ext &&
#endif
				wsi->ws->rsv)
				return nlws_protocol_error(wsi,
					"RSV1 set without a negotiated extension");
"""),
    ("\t\t\t\tlwsl_wsi_info(wsi, \"hey you owed us a FIN\");\n\t\t\t\treturn -1;\n",
     "\t\t\t\treturn nlws_protocol_error(wsi,\n\t\t\t\t\t\"new data frame inside a fragmented message\");\n"),
    ("\t\t\t\tlwsl_wsi_info(wsi, \"control msg can't be fragmented\");\n\t\t\t\treturn -1;\n",
     "\t\t\t\treturn nlws_protocol_error(wsi, \"fragmented control frame\");\n"),
    ("\t\t\tlwsl_wsi_warn(wsi, \"b63 of length must be zero\");\n\t\t\t/* kill the connection */\n\t\t\treturn -1;\n",
     "\t\t\treturn nlws_protocol_error(wsi,\n\t\t\t\t\"64-bit payload length with its top bit set\");\n"),
    # The peer's Close: codes reach the user unchanged; nothing after it is
    # parsed; the user may hold the echo.
    ("""			if (wsi->ws->rx_ubuf_head >= 2) {
				close_code = (unsigned short)((pp[0] << 8) | pp[1]);
				if (close_code < 1000 ||
				    close_code == 1004 ||
				    close_code == 1005 ||
				    close_code == 1006 ||
				    (close_code >= 1016 && close_code < 3000)
				) {
					pp[0] = (LWS_CLOSE_STATUS_PROTOCOL_ERR >> 8) & 0xff;
					pp[1] = LWS_CLOSE_STATUS_PROTOCOL_ERR & 0xff;
				}
			}
			if (user_callback_handle_rxflow(
					wsi->a.protocol->callback, wsi,
					LWS_CALLBACK_WS_PEER_INITIATED_CLOSE,
					wsi->user_space, pp,
					wsi->ws->rx_ubuf_head))
				return -1;

			memcpy(wsi->ws->ping_payload_buf + LWS_PRE, pp,
			       wsi->ws->rx_ubuf_head);
			wsi->ws->close_in_ping_buffer_len =
					(uint8_t)wsi->ws->rx_ubuf_head;
""",
     """			(void)close_code;
			wsi->ws->nlws_rx_done = 1;
			m = user_callback_handle_rxflow(
					wsi->a.protocol->callback, wsi,
					LWS_CALLBACK_WS_PEER_INITIATED_CLOSE,
					wsi->user_space, pp,
					wsi->ws->rx_ubuf_head);
			if (m && m != LWS_NLWS_HOLD_CLOSE_ECHO) {
				wsi->ws->rx_ubuf_head = 0;
				return -1;
			}

			memcpy(wsi->ws->ping_payload_buf + LWS_PRE, pp,
			       wsi->ws->rx_ubuf_head);
			wsi->ws->close_in_ping_buffer_len =
					(uint8_t)wsi->ws->rx_ubuf_head;
			if (m) {
				/* held: the user echoes it */
				wsi->ws->rx_ubuf_head = 0;
				handled = 1;
				break;
			}
"""),
    # PINGs go to the user, who answers them.
    ("""			/* he set a close reason on this guy, ignore PING */
			if (wsi->ws->close_in_ping_buffer_len)
				goto ping_drop;
""",
     """			/* he set a close reason on this guy, ignore PING */
			if (wsi->ws->close_in_ping_buffer_len)
				goto ping_drop;

			if (wsi->a.protocol->callback(wsi,
					LWS_CALLBACK_NLWS_RECEIVE_PING,
					wsi->user_space,
					&wsi->ws->rx_ubuf[LWS_PRE],
					wsi->ws->rx_ubuf_head)) {
				wsi->ws->nlws_rx_done = 1;
				wsi->ws->rx_ubuf_head = 0;
				return -1;
			}
			goto ping_drop;
"""),
    ("illegal_ctl_length:\n\tlwsl_wsi_warn(wsi, \"Control frame asking for extended length is illegal\");\n\n\t/* kill the connection */\n\treturn -1;\n",
     "illegal_ctl_length:\n\treturn nlws_protocol_error(wsi,\n\t\t\"control frame with more than 125 bytes of payload\");\n"),
    ("""server_cannot_mask:
	lws_close_reason(wsi,
			LWS_CLOSE_STATUS_PROTOCOL_ERR,
			(uint8_t *)"srv mask", 8);

	lwsl_wsi_warn(wsi, "Server must not mask");

	/* kill the connection */
	return -1;
""",
     """server_cannot_mask:
	return nlws_protocol_error(wsi, "masked frame from the server");
"""),
    # A user callback that fails the connection: reset the buffer (lws kept
    # filling it past its end) and parse nothing more.
    ("\t\t\t/* if user code wants to close, let caller know */\n\t\t\tif (m)\n\t\t\t\treturn 1;\n",
     """			/*
			 * if user code wants to close, let caller know (with
			 * -1: the extension drain paths ignore positive ones)
			 */
			if (m) {
				wsi->ws->rx_ubuf_head = 0;
				wsi->ws->nlws_rx_done = 1;
#if !defined(LWS_WITHOUT_EXTENSIONS)
				lws_remove_wsi_from_draining_ext_list(wsi);
#endif
				return -1;
			}
"""),
]

FAIL_READ = [
    ("\t\t/* node-libwebsockets: bulk payload */\n",
     "\t\t" + FAIL_MARK + "\n"
     "\t\tif (wsi->ws->nlws_rx_done) {\n"
     "\t\t\t*buf += len;\n"
     "\t\t\treturn 0;\n"
     "\t\t}\n\n"
     "\t\t/* node-libwebsockets: bulk payload */\n"),
    ("\t// lwsl_wsi_notice(wsi, \"finished with %ld\", (long)len);\n",
     """	/*
	 * node-libwebsockets: the text of an uncompressed frame received so
	 * far goes to the user now, so invalid UTF-8 fails without waiting
	 * for the rest of the frame
	 */
	if (wsi->lws_rx_parse_state == LWS_RXPS_WS_FRAME_PAYLOAD &&
	    wsi->ws->rx_ubuf_head && !wsi->ws->nlws_rx_done &&
	    !wsi->ws->frame_is_binary && !(wsi->ws->opcode & 8) &&
	    !(wsi->ws->rsv_first_msg & 0x40)
#if !defined(LWS_WITHOUT_EXTENSIONS)
	    && !wsi->ws->rx_draining_ext
#endif
	    ) {
		wsi->ws->nlws_spill_now = 1;
		if (lws_ws_client_rx_sm(wsi, 0))
			return -1;
	}
"""),
]

FAIL_CLOSE = [(
    "\tdefault:\n\t\tif (lws_has_buffered_out(wsi)\n",
    "\tdefault:\n"
    "\t\t" + FAIL_MARK + "\n"
    "#if defined(LWS_ROLE_WS)\n"
    "\t\tif (lwsi_role_ws(wsi) && wsi->ws &&\n"
    "\t\t    wsi->ws->close_in_ping_buffer_len)\n"
    "\t\t\tbreak; /* the Close goes out after the buffered output */\n"
    "#endif\n"
    "\t\tif (lws_has_buffered_out(wsi)\n",
)]


TCP_MARK = "/* node-libwebsockets: the protocol may abandon a connect */"
TCP_ANCHOR = (
    "\tif (wsi->a.protocol)\n"
    "\t\twsi->a.protocol->callback(wsi, LWS_CALLBACK_WSI_CREATE,\n"
    "\t\t\t\t\t  wsi->user_space, NULL, 0);\n"
)
TCP = "\t" + TCP_MARK + """
\tif (wsi->a.protocol &&
\t    wsi->a.protocol->callback(wsi, LWS_CALLBACK_WSI_CREATE,
\t\t\t\t      wsi->user_space, NULL, 0)) {
\t\tcce = "connect abandoned";
\t\tgoto try_next_dns_result_fds;
\t}
"""


SESS_MARK = "/* node-libwebsockets: keep the session resumable */"
SESS_ANCHOR = (
    "\tif (!wsi->socket_is_permanently_unusable)\n"
    "\t\tSSL_shutdown(wsi->tls.ssl);\n"
    "\tcompatible_close(n);\n"
)
SESS = """\tif (!wsi->socket_is_permanently_unusable)
\t\tSSL_shutdown(wsi->tls.ssl);
\t""" + SESS_MARK + """
\telse if (SSL_is_init_finished(wsi->tls.ssl))
\t\tSSL_set_shutdown(wsi->tls.ssl, SSL_SENT_SHUTDOWN);
\tcompatible_close(n);
"""


def patch(path, mark, anchor, replacement, what):
    APPLIED.append(mark.replace("/* node-libwebsockets:", "").replace("*/", "").strip())
    text = path.read_text()
    if mark in text:
        return
    if text.count(anchor) != 1:
        sys.exit(f"patch-lws: anchor not found exactly once in {path}")
    path.write_text(text.replace(anchor, replacement))
    print(f"patch-lws: {what} in {path}")


def patch_all(path, mark, pairs, what):
    """Several anchored replacements that belong together, applied as one."""
    APPLIED.append(mark.replace("/* node-libwebsockets:", "").replace("*/", "").strip())
    text = path.read_text()
    if mark in text:
        return
    for anchor, _ in pairs:
        if text.count(anchor) != 1:
            sys.exit(f"patch-lws: anchor not found exactly once in {path}: {anchor[:60]!r}")
    for anchor, replacement in pairs:
        text = text.replace(anchor, replacement)
    if mark not in text:
        sys.exit(f"patch-lws: {what}: the mark is in no replacement")
    path.write_text(text)
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
    patch(tls / "openssl-client.c", IPV6_HOST_MARK, IPV6_HOST_ANCHOR, IPV6_HOST, "bracketed IPv6 host checked")
    pmd = ws / "ext" / "extension-permessage-deflate.c"
    patch(ws / "ext" / "extension-permessage-deflate.h", PMD_STATE_MARK, PMD_STATE_ANCHOR, PMD_STATE,
          "pmd state added")
    patch_span(pmd, RX_DRAIN_MARK, RX_DRAIN_START, RX_DRAIN_END, RX_DRAIN, "inflate drains to the message end")
    patch(ws / "client-parser-ws.c", DRAIN_EMPTY_MARK, DRAIN_EMPTY_ANCHOR, DRAIN_EMPTY, "empty drain rounds reported")
    root = Path(sys.argv[1])
    patch_all(root / "include" / "libwebsockets" / "lws-callbacks.h", FAIL_MARK, FAIL_CALLBACKS,
              "user callbacks for PINGs and protocol errors")
    patch_all(root / "include" / "libwebsockets" / "lws-ws-close.h", FAIL_MARK, FAIL_HOLD,
              "held Close echo")
    patch_all(ws / "private-lib-roles-ws.h", FAIL_MARK, FAIL_STATE, "rx done state")
    patch_all(ws / "client-parser-ws.c", FAIL_MARK, FAIL_PARSER, "protocol errors fail with 1002")
    patch_all(ws / "client-ws.c", FAIL_MARK, FAIL_READ, "input after a failure is discarded")
    patch_all(root / "lib" / "core-net" / "close.c", FAIL_MARK, FAIL_CLOSE, "a Close follows buffered output")
    patch(pmd, EMPTY_MARK, EMPTY_ANCHOR, EMPTY, "empty messages after a flush sent as 00")
    patch(Path(sys.argv[1]) / "include" / "libwebsockets" / "lws-callbacks.h", INFLATE_CB_MARK, INFLATE_CB_ANCHOR,
          INFLATE_CB, "inflate failure callback added")
    patch(ws / "client-parser-ws.c", EXT_FAIL_MARK, EXT_FAIL_ANCHOR, EXT_FAIL, "extension failures close politely")
    fds = Path(sys.argv[1]) / "lib" / "plat" / "unix" / "unix-fds.c"
    patch(fds, FD_LOOKUP_MARK, FD_LOOKUP_ANCHOR, FD_LOOKUP, "fd lookup tries the fd's slot first")
    patch(fds, FD_INSERT_MARK, FD_INSERT_ANCHOR, FD_INSERT, "fd insertion takes the fd's slot when free")
    patch(fds, FD_DELETE_MARK, FD_DELETE_ANCHOR, FD_DELETE, "fd removal tries the fd's slot first")
    patch(fds, FD_DELETE_WSI_MARK, FD_DELETE_WSI_ANCHOR, FD_DELETE_WSI, "wsi removal tries its fd's slot first")
    client = Path(sys.argv[1]) / "lib" / "core-net" / "client"
    patch(client / "connect3.c", TCP_MARK, TCP_ANCHOR, TCP, "connects may be abandoned at TCP level")
    openssl = Path(sys.argv[1]) / "lib" / "tls" / "openssl"
    patch(openssl / "openssl-ssl.c", SESS_MARK, SESS_ANCHOR, SESS, "sessions of closed connections stay resumable")




    patch(ws / "private-lib-roles-ws.h", EMPTY_FIELD_MARK, EMPTY_FIELD_ANCHOR, EMPTY_FIELD, "empty Close flag added")
    patch(ws / "ops-ws.c", EMPTY_REASON_MARK, EMPTY_REASON_ANCHOR, EMPTY_REASON, "empty Close can be asked for")
    patch(ws / "ops-ws.c", EMPTY_SEND_MARK, EMPTY_SEND_ANCHOR, EMPTY_SEND, "empty Close is sent")
    patch(ws / "ops-ws.c", EMPTY_DEFAULT_MARK, EMPTY_DEFAULT_ANCHOR, EMPTY_DEFAULT, "empty Close kept empty")
    patch(ws / "ops-ws.c", READ_SIZE_MARK, READ_SIZE_ANCHOR, READ_SIZE, "client reads a whole buffer")
    patch(ws / "client-ws.c", DIRECT_MARK, DIRECT_ANCHOR, DIRECT, "payload straight from the read buffer")
    patch_all(openssl / "openssl-ssl.c", RA_MARK, RA_PAIRS, "TLS read-ahead buffers seen")
    patch(ws / "ops-ws.c", RA_NEXT_MARK, RA_SANITY, RA_SANITY_NEW,
          "many buffered records take several rounds")
    patch(ws / "client-ws.c", LAZY_MARK, LAZY_UPGRADE_ANCHOR, LAZY_UPGRADE, "rx buffer allocated when needed")
    patch_all(ws / "client-parser-ws.c", LAZY_MARK, LAZY_PARSER, "rx buffer allocated and freed by the parser")
    patch(ws / "ops-ws.c", MASK_POOL_MARK, MASK_POOL_ANCHOR, MASK_POOL, "masking keys from a pool")
    patch(ws / "client-parser-ws.c", AFTER_CLOSE_MARK, AFTER_CLOSE_ANCHOR, AFTER_CLOSE,
          "data frames delivered while our Close awaits its answer")
    record_patch_set(Path(sys.argv[1]) / "lib" / "core" / "libwebsockets.c")


PATCH_SET_MARK = "/* node-libwebsockets: patch set */"


def record_patch_set(path):
    """Appends nlws_lws_patch_set(): "<name>;<name>;...@<sha256 of this script>"."""
    text = path.read_text()
    if PATCH_SET_MARK in text:
        return
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    value = ";".join(dict.fromkeys(APPLIED)) + "@" + digest  # a change in several files is named once
    if '"' in value or "\\" in value:
        sys.exit("patch-lws: a patch name must not contain quotes or backslashes")
    path.write_text(text + "\n" + PATCH_SET_MARK + "\nconst char *nlws_lws_patch_set(void);\n"
                    "const char *nlws_lws_patch_set(void) { return \"" + value + "\"; }\n")
    print(f"patch-lws: patch set recorded in {path}")


main()
