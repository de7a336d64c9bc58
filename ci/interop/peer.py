#!/usr/bin/env python3
"""Kernel-side peer of the interop suite (standard library only).

One process, one connection, in either role, over an IPPROTO_MPTCP socket (or plain
TCP with --proto tcp). It plays the part mpdk plays on the other side, with the same
modes as the mpdk console:

  sink    read to the end of the stream
  source  send --bytes N of a pseudo-random stream, shut down writing, read to the end
  echo    return everything received, then close when the peer has closed

  --abort-after N   after N bytes have been sent or received, close with SO_LINGER 0:
                    on an MPTCP socket the kernel sends MP_FASTCLOSE.

When it is done it writes one JSON object (to --out, or stdout) in the shape of mpdk's
--json summary: role, proto_used, bytes_sent, bytes_received, sha256_sent,
sha256_received, seconds, gbps, and what the kernel reports about the connection
(MPTCP_INFO, taken just before the close, and the subflow addresses).

Readiness: a server writes the file --ready once it listens; a client retries its
connect (the other side may start later) until --connect-timeout.
"""

import argparse
import errno
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time

IPPROTO_MPTCP = 262
SOL_MPTCP = 284
MPTCP_INFO = 1
MPTCP_INFO_FLAG_FALLBACK = 1 << 0

# struct mptcp_info (include/uapi/linux/mptcp.h) offsets on x86-64; see
# ci/fixtures/peer.py for the layout.
INFO_FIELDS = [
    ("subflows", "B", 0),
    ("add_addr_signal", "B", 1),
    ("add_addr_accepted", "B", 2),
    ("subflows_max", "B", 3),
    ("add_addr_signal_max", "B", 4),
    ("add_addr_accepted_max", "B", 5),
    ("flags", "I", 8),
    ("token", "I", 12),
    ("write_seq", "Q", 16),
    ("snd_una", "Q", 24),
    ("rcv_nxt", "Q", 32),
    ("local_addr_used", "B", 40),
    ("local_addr_max", "B", 41),
    ("csum_enabled", "B", 42),
    ("retransmits", "I", 44),
    ("bytes_retrans", "Q", 48),
    ("bytes_sent", "Q", 56),
    ("bytes_received", "Q", 64),
    ("bytes_acked", "Q", 72),
    ("subflows_total", "B", 80),
]

CHUNK = 256 * 1024


class Stream:
    """A non-repeating pseudo-random byte stream (Mersenne Twister seeded with --seed).
    The exact bytes do not matter to the judge, which compares the hash one side sent
    with the hash the other side received; they must not repeat, or a misordering by a
    period would go unseen."""

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def take(self, n):
        return self.rng.randbytes(n)


def parse_size(s):
    mult = {"k": 1 << 10, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if s and s[-1] in mult:
        return int(s[:-1]) * mult[s[-1]]
    return int(s)


def mptcp_info(sock):
    try:
        raw = sock.getsockopt(SOL_MPTCP, MPTCP_INFO, 256)
    except OSError:
        return None
    info = {}
    for name, fmt, off in INFO_FIELDS:
        size = struct.calcsize(fmt)
        if off + size <= len(raw):
            info[name] = struct.unpack_from("=" + fmt, raw, off)[0]
    return info


def proto_used(sock, asked):
    if asked == "tcp":
        return "tcp"
    info = mptcp_info(sock)
    if info is None or info.get("flags", 0) & MPTCP_INFO_FLAG_FALLBACK:
        return "tcp"
    return "mptcp"


def make_socket(proto):
    p = IPPROTO_MPTCP if proto == "mptcp" else socket.IPPROTO_TCP
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM, p)


def run(sock, args, role):
    sent_hash = hashlib.sha256()
    recv_hash = hashlib.sha256()
    sent = received = 0
    stream = Stream(args.seed)
    total = parse_size(args.bytes) if args.mode == "source" else 0
    abort_after = parse_size(args.abort_after) if args.abort_after else None
    start = time.monotonic()
    aborted = False
    reset_by_peer = []
    info = None
    sock.settimeout(args.io_timeout)

    def maybe_abort():
        nonlocal aborted, info
        if abort_after is not None and (sent + received) >= abort_after and not aborted:
            info = mptcp_info(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            aborted = True
        return aborted

    def read_loop(echo):
        nonlocal received, sent, aborted
        while not aborted:
            try:
                data = sock.recv(CHUNK)
            except ConnectionResetError:
                # The peer aborted (MP_FASTCLOSE or RST): report what arrived.
                reset_by_peer.append(True)
                aborted = True
                break
            if not data:
                break
            recv_hash.update(data)
            received += len(data)
            if echo:
                sock.sendall(data)
                sent_hash.update(data)
                sent += len(data)
            if maybe_abort():
                break

    def wait_subflows():
        # An MPTCP client is fully established (and its path manager starts joins)
        # only once the peer has acknowledged data, so this runs after a first write.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if (mptcp_info(sock) or {}).get("subflows", 0) >= args.wait_subflows:
                return
            time.sleep(0.01)

    if args.mode == "source":
        # Read on a second thread while sending, or a peer that echoes would block
        # both sides once the buffers fill.
        reader_error = []

        def reader():
            try:
                read_loop(False)
            except Exception as e:  # reported below
                reader_error.append(e)

        t = None
        if abort_after is None:
            t = threading.Thread(target=reader, daemon=True)
            t.start()
        while sent < total:
            data = stream.take(min(CHUNK, total - sent))
            try:
                sock.sendall(data)
            except (ConnectionResetError, BrokenPipeError):
                if abort_after is None:
                    raise
                break
            sent_hash.update(data)
            sent += len(data)
            if args.wait_subflows and sent == len(data):
                wait_subflows()
            if maybe_abort():
                break
        if not aborted:
            sock.shutdown(socket.SHUT_WR)
        if t is not None:
            t.join(args.io_timeout)
        if reader_error:
            raise reader_error[0]
    elif not aborted:
        read_loop(args.mode == "echo")
    seconds = time.monotonic() - start
    proto = None
    if not aborted:
        info = mptcp_info(sock)
        proto = proto_used(sock, args.proto)
        if args.mode == "echo":
            sock.shutdown(socket.SHUT_WR)
        # Wait for the peer to finish before closing, so a DATA_FIN is exchanged
        # in both directions and nothing is cut short.
        sock.close()
    else:
        proto = "tcp" if info is None or info.get("flags", 0) & 1 else "mptcp"
    out = {
        "role": role,
        "proto_used": proto,
        "bytes_sent": sent,
        "bytes_received": received,
        "sha256_sent": sent_hash.hexdigest(),
        "sha256_received": recv_hash.hexdigest(),
        "seconds": round(seconds, 6),
        "gbps": round((sent + received) * 8 / seconds / 1e9, 6) if seconds > 0 else 0.0,
        "aborted": aborted,
        "reset_by_peer": bool(reset_by_peer),
        "mptcp_info": info,
    }
    text = json.dumps(out)
    if args.out:
        with open(args.out + ".tmp", "w") as f:
            f.write(text + "\n")
        os.rename(args.out + ".tmp", args.out)
    else:
        print(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("role", choices=["server", "client"])
    ap.add_argument("--listen", type=int, help="server: TCP port")
    ap.add_argument("--bind", default="0.0.0.0", help="server: local address")
    ap.add_argument("--connect", help="client: IP:PORT")
    ap.add_argument("--proto", choices=["mptcp", "tcp"], default="mptcp")
    ap.add_argument("--mode", choices=["sink", "source", "echo"], required=True)
    ap.add_argument("--bytes", default="0")
    ap.add_argument("--abort-after", default=None)
    ap.add_argument("--seed", default="mpdk-interop")
    ap.add_argument("--wait-subflows", type=int, default=0,
                    help="before sending, wait (up to 10 s) until the connection has N extra subflows")
    ap.add_argument("--out")
    ap.add_argument("--ready")
    ap.add_argument("--connect-timeout", type=float, default=20.0)
    ap.add_argument("--io-timeout", type=float, default=60.0)
    args = ap.parse_args()

    if args.role == "server":
        if args.listen is None:
            ap.error("server needs --listen PORT")
        ls = make_socket(args.proto)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((args.bind, args.listen))
        ls.listen(8)
        if args.ready:
            open(args.ready, "w").close()
        ls.settimeout(args.connect_timeout + args.io_timeout)
        sock, _ = ls.accept()
        # Keep listening: Linux takes a passive MP_JOIN through the listener of the
        # port, so closing it would make the kernel reset every join.
        run(sock, args, "server")
        ls.close()
    else:
        if not args.connect or ":" not in args.connect:
            ap.error("client needs --connect IP:PORT")
        host, port = args.connect.rsplit(":", 1)
        deadline = time.monotonic() + args.connect_timeout
        while True:
            sock = make_socket(args.proto)
            sock.settimeout(3.0)
            try:
                sock.connect((host, int(port)))
                break
            except OSError as e:
                sock.close()
                if time.monotonic() > deadline:
                    print(f"peer: connect {args.connect}: {e}", file=sys.stderr)
                    sys.exit(1)
                if e.errno not in (errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH, None):
                    time.sleep(0.2)
                time.sleep(0.1)
        run(sock, args, "client")


if __name__ == "__main__":
    main()
