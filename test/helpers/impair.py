#!/usr/bin/env python3
"""A userspace link between two TUN devices that delays, jitters, loses and
cuts IP packets: the network-fault tests' stand-in for `tc netem`, which the
test and CI kernels do not have (no sch_netem, no tc gact, no modules).

    impair.py <tun-a> <tun-b> <seed>

Creates the two TUN devices (IFF_TUN | IFF_NO_PI) in the current network
namespace and prints {"ev":"ready"}; the caller then moves each into its
namespace (`ip link set <dev> netns <ns>`: the file descriptors stay valid)
and gives them point-to-point addresses. Every packet one device emits is
written to the other, impaired by the current settings:

  - delay: one-way `delay` ms plus a uniform random jitter in [-jitter, +jitter];
    packets keep their order per direction (a packet is never released before
    the one read before it), like netem with a rate: TCP copes with
    reordering, but it would only add retransmission noise, nothing this
    library can see;
  - loss: each packet is dropped with probability `loss` (0..1), drawn from a
    random generator seeded per direction and per purpose, so the n-th packet
    of a direction meets the same fate on every run with the same seed;
  - down: every packet is dropped silently, including those still in flight
    (a cut cable): no FIN, no RST, no ICMP reaches either end.

Control, one command per line on stdin, `<id> <command> [args]`; each is
answered with one JSON line on stdout carrying the id and `at` (wall-clock
ms, the clock the client's events use):
    <id> set <delay_ms> <jitter_ms> <loss>   -> {"ev":"set","id":<id>,...}
    <id> down                                -> {"ev":"down","id":<id>,"at":...}
    <id> up                                  -> {"ev":"up","id":<id>,"at":...}
    <id> stats                               -> {"ev":"stats","id":<id>,"ab":{...},"ba":{...}}
End of stdin ends the program, and with it the devices: a test that dies
leaves no device behind.
"""
import errno
import fcntl
import heapq
import json
import os
import random
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65536


def open_tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def now_ms():
    return time.time() * 1000.0


def say(obj):
    sys.stdout.write(json.dumps(obj, separators=(',', ':')) + '\n')
    sys.stdout.flush()


class Direction:
    """One way of the link: its own random streams, order and counters."""

    def __init__(self, name, src, dst, seed):
        self.name = name
        self.src = src
        self.dst = dst
        self.loss_rng = random.Random(f'{seed}/{name}/loss')
        self.jitter_rng = random.Random(f'{seed}/{name}/jitter')
        self.last_release = 0.0
        self.counts = {'read': 0, 'forwarded': 0, 'lost': 0, 'cut': 0}


def main():
    name_a, name_b, seed = sys.argv[1], sys.argv[2], sys.argv[3]
    fd_a, fd_b = open_tun(name_a), open_tun(name_b)
    dirs = {fd_a: Direction('ab', fd_a, fd_b, seed), fd_b: Direction('ba', fd_b, fd_a, seed)}
    delay, jitter, loss, down = 0.0, 0.0, 0.0, False
    # (release time ms, tie-breaker, direction, packet)
    wire = []
    tie = 0
    stdin_buf = b''
    say({'ev': 'ready', 'pid': os.getpid()})

    def command(line):
        nonlocal delay, jitter, loss, down, wire
        parts = line.split()
        if len(parts) < 2:
            say({'ev': 'error', 'line': line})
            return
        cid, cmd, args = parts[0], parts[1], parts[2:]
        if cmd == 'set' and len(args) == 3:
            delay, jitter, loss = float(args[0]), float(args[1]), float(args[2])
            say({'ev': 'set', 'id': cid, 'delay': delay, 'jitter': jitter, 'loss': loss, 'at': now_ms()})
        elif cmd == 'down':
            down = True
            for _, _, d, _ in wire:
                d.counts['cut'] += 1
            wire = []
            say({'ev': 'down', 'id': cid, 'at': now_ms()})
        elif cmd == 'up':
            down = False
            say({'ev': 'up', 'id': cid, 'at': now_ms()})
        elif cmd == 'stats':
            say({'ev': 'stats', 'id': cid, 'ab': dirs[fd_a].counts, 'ba': dirs[fd_b].counts, 'at': now_ms()})
        else:
            say({'ev': 'error', 'id': cid, 'line': line})

    def receive(d):
        nonlocal tie
        # Bounded: at most 256 packets per readiness, then back to select.
        for _ in range(256):
            try:
                packet = os.read(d.src, MAX_PACKET)
            except BlockingIOError:
                return
            d.counts['read'] += 1
            # Draw from both streams for every packet, so the fate of packet n
            # does not depend on the settings the earlier packets met.
            lost = d.loss_rng.random() < loss
            offset = d.jitter_rng.uniform(-jitter, jitter)
            if down:
                d.counts['cut'] += 1
                continue
            if lost:
                d.counts['lost'] += 1
                continue
            release = max(now_ms() + max(0.0, delay + offset), d.last_release)
            d.last_release = release
            tie += 1
            heapq.heappush(wire, (release, tie, d, packet))

    while True:
        timeout = None
        if wire:
            timeout = max(0.0, (wire[0][0] - now_ms()) / 1000.0)
        readable, _, _ = select.select([fd_a, fd_b, 0], [], [], timeout)
        for fd in readable:
            if fd == 0:
                chunk = os.read(0, 4096)
                if not chunk:
                    return
                stdin_buf += chunk
                while b'\n' in stdin_buf:
                    line, stdin_buf = stdin_buf.split(b'\n', 1)
                    command(line.decode().strip())
            else:
                receive(dirs[fd])
        t = now_ms()
        while wire and wire[0][0] <= t:
            _, _, d, packet = heapq.heappop(wire)
            try:
                os.write(d.dst, packet)
                d.counts['forwarded'] += 1
            except OSError as e:
                # The receiving device is down or its queue full: the packet is
                # lost, as on a real link; TCP retransmits.
                if e.errno not in (errno.EAGAIN, errno.EIO, errno.ENOBUFS, errno.EINVAL):
                    raise
                d.counts['lost'] += 1


if __name__ == '__main__':
    main()
