#!/usr/bin/env python3
"""Interop suite: mpdk against the Linux kernel's MPTCP (run as root).

Topology, built fresh for every case with namespace names unique to this run:

    K (kernel peer)            X (middle: two bridges, nftables)        M (mpdk)
    k1 10.0.1.1/24  <--veth--> xk1 [br1] xm1 <--veth-->  m1  (DPDK port 0, 10.0.1.2)
    k2 10.0.2.1/24  <--veth--> xk2 [br2] xm2 <--veth-->  m2  (DPDK port 1, 10.0.2.2)

M has no IP addresses of its own: mpdk owns 10.0.1.2 and 10.0.2.2 through
`--port-addr` on DPDK `net_af_packet` ports bound to m1 and m2. Offloads are off on
every veth end. Loss and option stripping are nftables rules on the bridges in X, so
they act on the wire between the two hosts.

With --self-test the M side is the kernel too (the addresses on m1/m2, `ip mptcp`
endpoints and limits, the checksum sysctl, ci/interop/peer.py), which proves the
harness and the judge on a pair that is known to work.

Each case judges from both sides (hashes of both directions, proto used, the kernel's
MPTcpExt counters from nstat in K, MPTCP_INFO, mpdk's JSON and counters) and prints
one verdict line; the run ends with `N passed, N failed` and exits non-zero on any
failure. Namespaces that cannot be created fail the run loudly.
"""

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer.py")
PORT = 5201

K_ADDR = {1: "10.0.1.1", 2: "10.0.2.1"}
M_ADDR = {1: "10.0.1.2", 2: "10.0.2.2"}


def sh(cmd, check=True, capture=False, timeout=60):
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout if capture else r


class Topo:
    """Three namespaces and two paths; torn down by `close` (also on failure)."""

    seq = 0

    def __init__(self, self_test):
        Topo.seq += 1
        base = f"mpdkio{os.getpid()}n{Topo.seq}"
        self.k, self.x, self.m = base + "k", base + "x", base + "m"
        self.self_test = self_test
        self.nft_rules = []

    def ns(self, ns, *cmd):
        return ["ip", "netns", "exec", ns, *cmd]

    def up(self):
        for ns in (self.k, self.x, self.m):
            sh(["ip", "netns", "add", ns])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        for ns in (self.k, self.m):
            sh(self.ns(ns, "sysctl", "-qw", "net.mptcp.enabled=1"))
            sh(self.ns(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"))
            sh(self.ns(ns, "sysctl", "-qw", "net.ipv4.conf.default.rp_filter=0"))
            # IPv6 would add router solicitations and DAD to the captures.
            sh(self.ns(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"))
            sh(self.ns(ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"))
        for i in (1, 2):
            sh(["ip", "-n", self.x, "link", "add", f"br{i}", "type", "bridge"])
            sh(["ip", "-n", self.k, "link", "add", f"k{i}", "type", "veth", "peer", "name", f"xk{i}", "netns", self.x])
            sh(["ip", "-n", self.m, "link", "add", f"m{i}", "type", "veth", "peer", "name", f"xm{i}", "netns", self.x])
            for ns, dev in ((self.k, f"k{i}"), (self.x, f"xk{i}"), (self.x, f"xm{i}"), (self.m, f"m{i}")):
                sh(self.ns(ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off"))
                if ns == self.x:
                    sh(["ip", "-n", ns, "link", "set", dev, "master", f"br{i}"])
                sh(["ip", "-n", ns, "link", "set", dev, "up"])
            sh(["ip", "-n", self.x, "link", "set", f"br{i}", "up"])
            sh(["ip", "-n", self.k, "addr", "add", f"{K_ADDR[i]}/24", "dev", f"k{i}"])
            if self.self_test:
                sh(["ip", "-n", self.m, "addr", "add", f"{M_ADDR[i]}/24", "dev", f"m{i}"])
        # A subflow endpoint bound to path 2 reaches the peer's path-1 address on-link
        # over path 2 (what Linux does for `ip mptcp endpoint ... dev`): a source rule.
        sh(["ip", "-n", self.k, "rule", "add", "from", K_ADDR[2], "table", "102"])
        sh(["ip", "-n", self.k, "route", "add", "10.0.1.0/24", "dev", "k2", "src", K_ADDR[2], "table", "102"])
        if self.self_test:
            sh(["ip", "-n", self.m, "rule", "add", "from", M_ADDR[2], "table", "102"])
            sh(["ip", "-n", self.m, "route", "add", "10.0.1.0/24", "dev", "m2", "src", M_ADDR[2], "table", "102"])
        # No bridge learning delay: forward at once.
        for i in (1, 2):
            sh(["ip", "-n", self.x, "link", "set", f"br{i}", "type", "bridge", "forward_delay", "0"])
        time.sleep(0.2)

    def nft(self, rules):
        """Install nftables rules on the bridges (in X)."""
        text = "table bridge mpdkio {\n chain middle {\n  type filter hook forward priority 0; policy accept;\n"
        text += "".join(f"  {r}\n" for r in rules) + " }\n}\n"
        r = subprocess.run(self.ns(self.x, "nft", "-f", "-"), input=text, text=True, capture_output=True)
        if r.returncode != 0:
            raise RuntimeError(f"nft: {r.stderr.strip()}")
        self.nft_rules = rules

    def nft_counters(self):
        return sh(self.ns(self.x, "nft", "list", "ruleset"), capture=True)

    def nstat(self, ns):
        out = sh(self.ns(ns, "nstat", "-asz"), capture=True)
        vals = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and not line.startswith("#"):
                try:
                    vals[parts[0]] = int(parts[1])
                except ValueError:
                    pass
        return vals

    def close(self):
        for ns in (self.k, self.x, self.m):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


class Proc:
    """A process this suite started (ended only by its own PID)."""

    def __init__(self, argv, name, stdout_path, stderr_path):
        self.name = name
        self.out_path, self.err_path = stdout_path, stderr_path
        self.p = subprocess.Popen(argv, stdout=open(stdout_path, "w"), stderr=open(stderr_path, "w"))

    def wait(self, timeout):
        try:
            return self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def stderr_tail(self, n=6):
        try:
            with open(self.err_path) as f:
                lines = f.read().splitlines()
            return " | ".join(lines[-n:])
        except OSError:
            return ""


def wait_for(pred, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        if proc is not None and proc.p.poll() is not None:
            return False
        time.sleep(0.05)
    return False


class Side:
    """How one side of a case is configured: the same vocabulary as the mpdk console
    (and `ip mptcp`): role, proto, mode, bytes, endpoints, limits, checksum."""

    def __init__(self, role, mode, proto="mptcp", nbytes="0", endpoints=(), limits=None,
                 checksum=False, abort_after=None, wait_subflows=0):
        self.role, self.mode, self.proto, self.nbytes = role, mode, proto, nbytes
        self.endpoints = list(endpoints)  # e.g. "10.0.2.2,subflow,dev=1"
        self.limits = limits  # e.g. "subflows=2,add_addr_accepted=1"
        self.checksum = checksum
        self.abort_after = abort_after
        # Kernel side only: wait for this many extra subflows before sending, so a short
        # transfer does not end before the path manager has joined.
        self.wait_subflows = wait_subflows


class Run:
    def __init__(self, args, topo, work):
        self.args, self.topo, self.work = args, topo, work
        self.procs = []

    # The kernel in namespace `ns` with path manager settings from `side`.
    def kernel_pm(self, ns, side, devs):
        sh(["ip", "-n", ns, "mptcp", "endpoint", "flush"])
        if side.limits:
            kv = dict(x.split("=") for x in side.limits.split(","))
            cmd = ["ip", "-n", ns, "mptcp", "limits", "set"]
            if "subflows" in kv:
                cmd += ["subflows", kv["subflows"]]
            if "add_addr_accepted" in kv:
                cmd += ["add_addr_accepted", kv["add_addr_accepted"]]
            sh(cmd)
        for ep in side.endpoints:
            parts = ep.split(",")
            cmd = ["ip", "-n", ns, "mptcp", "endpoint", "add", parts[0]]
            for p in parts[1:]:
                if p.startswith("dev="):
                    cmd += ["dev", devs[int(p[4:])]]
                elif p.startswith("port="):
                    cmd += ["port", p[5:]]
                else:
                    cmd.append(p)
            sh(cmd)
        sh(self.topo.ns(ns, "sysctl", "-qw", f"net.mptcp.checksum_enabled={1 if side.checksum else 0}"))

    def start_kernel(self, ns, side, name, local, remote, devs):
        self.kernel_pm(ns, side, devs)
        out = os.path.join(self.work, f"{name}.json")
        ready = os.path.join(self.work, f"{name}.ready")
        argv = self.topo.ns(ns, sys.executable, PEER, side.role, "--mode", side.mode, "--proto", side.proto,
                            "--bytes", side.nbytes, "--out", out)
        if side.abort_after:
            argv += ["--abort-after", side.abort_after]
        if side.wait_subflows:
            argv += ["--wait-subflows", str(side.wait_subflows)]
        if side.role == "server":
            argv += ["--listen", str(PORT), "--bind", "0.0.0.0", "--ready", ready]
        else:
            argv += ["--connect", f"{remote}:{PORT}"]
        p = Proc(argv, name, os.path.join(self.work, f"{name}.stdout"), os.path.join(self.work, f"{name}.stderr"))
        p.json_path, p.ready_path, p.kind = out, ready, "kernel"
        self.procs.append(p)
        return p

    def start_mpdk(self, side, name):
        out = os.path.join(self.work, f"{name}.stdout")
        eal = ["--no-huge", "-m", "1024", "--no-shconf", "--no-pci", "--file-prefix", f"mpdkio{os.getpid()}{name}",
               "--vdev", "net_af_packet0,iface=m1", "--vdev", "net_af_packet1,iface=m2"]
        app = ["--port-addr", f"0={M_ADDR[1]}/24", "--port-addr", f"1={M_ADDR[2]}/24",
               "--proto", side.proto, "--mode", side.mode, "--json", "--checksum", "on" if side.checksum else "off"]
        if side.mode == "source":
            app += ["--bytes", side.nbytes]
        if side.role == "server":
            app += ["--listen", str(PORT)]
        else:
            app += ["--connect", f"{K_ADDR[1]}:{PORT}"]
        for ep in side.endpoints:
            app += ["--endpoint", ep]
        if side.limits:
            app += ["--limits", side.limits]
        if side.abort_after:
            app += ["--abort-after", side.abort_after]
        argv = self.topo.ns(self.topo.m, self.args.mpdk, *eal, "--", *app)
        p = Proc(argv, name, out, os.path.join(self.work, f"{name}.stderr"))
        p.json_path, p.ready_path, p.kind = out, None, "mpdk"
        self.procs.append(p)
        return p

    def start_m(self, side):
        if self.args.self_test:
            return self.start_kernel(self.topo.m, side, "m", M_ADDR[1], K_ADDR[1], {0: "m1", 1: "m2"})
        return self.start_mpdk(side, "m")

    def start_k(self, side):
        return self.start_kernel(self.topo.k, side, "k", K_ADDR[1], M_ADDR[1], {0: "k1", 1: "k2"})

    def server_ready(self, p, timeout=30):
        if p.kind == "kernel":
            return wait_for(lambda: os.path.exists(p.ready_path), timeout, p)

        def ready():
            try:
                with open(p.err_path) as f:
                    return any(line.strip() == "ready" for line in f)
            except OSError:
                return False

        return wait_for(ready, timeout, p)

    def result(self, p):
        try:
            with open(p.json_path) as f:
                lines = [line for line in f.read().splitlines() if line.strip().startswith("{")]
            return json.loads(lines[-1]) if lines else None
        except (OSError, ValueError):
            return None

    def stop_all(self):
        for p in self.procs:
            p.kill()


class Case:
    def __init__(self, name, k, m, server, nft=(), timeout=60, checks=None, big=False, m_error=None):
        self.name, self.k, self.m, self.server = name, k, m, server
        # The error the M side must end with (the peer aborts): mpdk then exits 1 and
        # says why in its JSON; the check below demands exactly that error.
        self.m_error = m_error
        self.nft, self.timeout, self.checks, self.big = list(nft), timeout, checks, big


def both_directions(kr, mr, problems):
    if kr is None or mr is None:
        problems.append("missing result JSON from " + ("kernel" if kr is None else "mpdk side"))
        return
    if mr["bytes_sent"] != kr["bytes_received"] or mr.get("sha256_sent") != kr["sha256_received"]:
        problems.append(f"m->k stream differs: sent {mr['bytes_sent']} received {kr['bytes_received']}")
    if kr["bytes_sent"] != mr["bytes_received"] or kr["sha256_sent"] != mr.get("sha256_received"):
        problems.append(f"k->m stream differs: sent {kr['bytes_sent']} received {mr['bytes_received']}")


def m_counters(run, mr):
    """mpdk's counters from its JSON; in the self-test, the M kernel's nstat."""
    if run.args.self_test:
        return {k[len("MPTcpExt"):]: v for k, v in run.topo.nstat(run.topo.m).items() if k.startswith("MPTcpExt")}
    return (mr or {}).get("counters", {})


def run_case(args, case):
    topo = Topo(args.self_test)
    work = tempfile.mkdtemp(prefix=f"mpdkio-{case.name}-")
    run = Run(args, topo, work)
    problems = []
    t0 = time.monotonic()
    try:
        topo.up()
        if case.nft:
            topo.nft(case.nft)
        if args.pcap:
            # Debugging aid: the wire as the kernel sees it, kept with the logs.
            for dev in ("k1", "k2"):
                run.procs.append(Proc(topo.ns(topo.k, "tcpdump", "-U", "-s", "200", "-i", dev, "-w",
                                              os.path.join(work, f"{dev}.pcap"), "tcp"),
                                      "tcpdump", os.devnull, os.devnull))
            time.sleep(0.5)
        if case.server == "k":
            server = run.start_k(case.k)
            if not run.server_ready(server):
                raise RuntimeError(f"kernel server not ready: {server.stderr_tail()}")
            client = run.start_m(case.m)
        else:
            server = run.start_m(case.m)
            if not run.server_ready(server):
                raise RuntimeError(f"mpdk-side server not ready: {server.stderr_tail()}")
            client = run.start_k(case.k)
        for p in (client, server):
            rc = p.wait(case.timeout)
            if rc is None:
                problems.append(f"{p.name} ({p.kind}) timed out after {case.timeout}s: {p.stderr_tail()}")
            elif rc != 0 and not (p.kind == "mpdk" and case.m_error and rc == 1):
                problems.append(f"{p.name} ({p.kind}) exited {rc}: {p.stderr_tail()}")
        kp = server if case.server == "k" else client
        mp = client if case.server == "k" else server
        kr, mr = run.result(kp), run.result(mp)
        if case.m_error and not args.self_test:
            got = (mr or {}).get("error")
            need(got == case.m_error, problems, f"mpdk side ended with error {got!r}, expected {case.m_error!r}")
        knstat = {k[len("MPTcpExt"):]: v for k, v in topo.nstat(topo.k).items() if k.startswith("MPTcpExt")}
        ktcp = topo.nstat(topo.k)
        with open(os.path.join(work, "k.nstat.json"), "w") as f:
            json.dump({k: v for k, v in ktcp.items() if v}, f, indent=1)
        ctx = {"kr": kr, "mr": mr, "knstat": knstat, "ktcp": ktcp, "mc": m_counters(run, mr), "topo": topo}
        detail = case.checks(ctx, problems) if case.checks else ""
    except Exception as e:  # a broken set-up is a failed case, loudly
        problems.append(f"set-up: {e}")
        detail = ""
    finally:
        run.stop_all()
        topo.close()
    secs = time.monotonic() - t0
    if problems:
        print(f"FAIL {case.name} ({secs:.1f}s): " + "; ".join(problems) + f" [logs: {work}]", flush=True)
        return False
    logs = f" [logs: {work}]" if args.keep_logs else ""
    if not args.keep_logs:
        shutil.rmtree(work, ignore_errors=True)
    print(f"PASS {case.name} ({secs:.1f}s){': ' + detail if detail else ''}{logs}", flush=True)
    return True


# ---- checks ---------------------------------------------------------------------

def need(cond, problems, text):
    if not cond:
        problems.append(text)


def chk_transfer(proto="mptcp", extra=None):
    def f(ctx, problems):
        kr, mr = ctx["kr"], ctx["mr"]
        both_directions(kr, mr, problems)
        if kr and mr:
            need(mr.get("proto_used") == proto, problems, f"mpdk side used {mr.get('proto_used')}, expected {proto}")
            need(kr.get("proto_used") == proto, problems, f"kernel used {kr.get('proto_used')}, expected {proto}")
        detail = ""
        if extra:
            detail = extra(ctx, problems) or ""
        if kr and mr and not problems:
            detail = f"{mr['bytes_sent']}+{mr['bytes_received']} bytes, hashes equal" + (f"; {detail}" if detail else "")
        return detail
    return f


def ge(table, name, n, problems, who):
    v = table.get(name, 0)
    need(v >= n, problems, f"{who} {name}={v}, expected >= {n}")
    return v


def eq(table, name, n, problems, who):
    v = table.get(name, 0)
    need(v == n, problems, f"{who} {name}={v}, expected {n}")
    return v


def subflows_of(mr):
    return (mr or {}).get("subflows_established")


def cases(args):
    MB = "8M"
    c = []
    # 1. mpdk client to a kernel server.
    c.append(Case("1a-mpc-client", k=Side("server", "echo"), m=Side("client", "source", nbytes=MB), server="k",
                  checks=chk_transfer(extra=lambda x, p: (ge(x["knstat"], "MPCapableSYNRX", 1, p, "kernel"),
                                                          ge(x["knstat"], "MPCapableACKRX", 1, p, "kernel"),
                                                          "kernel MPCapableSYNRX/ACKRX seen")[-1])))
    c.append(Case("1b-join-from-mpdk", k=Side("server", "echo"),
                  m=Side("client", "source", nbytes=MB, endpoints=["10.0.2.2,subflow,dev=1"], wait_subflows=1),
                  server="k", checks=chk_transfer(extra=lambda x, p: (ge(x["knstat"], "MPJoinSynRx", 1, p, "kernel"),
                                                          ge(x["knstat"], "MPJoinAckRx", 1, p, "kernel"),
                                                          f"kernel MPJoinSynRx={x['knstat'].get('MPJoinSynRx')} MPJoinAckRx={x['knstat'].get('MPJoinAckRx')}")[-1])))
    # 2. Kernel client to an mpdk server; the kernel opens the second subflow.
    c.append(Case("2-join-from-kernel",
                  k=Side("client", "source", nbytes=MB, endpoints=["10.0.2.1,subflow,dev=1"], wait_subflows=1),
                  m=Side("server", "echo"), server="m",
                  checks=chk_transfer(extra=lambda x, p: (ge(x["knstat"], "MPJoinSynAckRx", 1, p, "kernel"),
                                                          ge(x["mc"], "MPJoinSynRx", 1, p, "mpdk side"),
                                                          "join accepted by the mpdk side")[-1])))
    # 3. ADD_ADDR in both directions.
    c.append(Case("3a-add-addr-from-mpdk",
                  k=Side("client", "source", nbytes=MB, limits="subflows=2,add_addr_accepted=1", wait_subflows=1),
                  m=Side("server", "echo", endpoints=["10.0.2.2,signal"]), server="m",
                  checks=chk_transfer(extra=lambda x, p: (ge(x["knstat"], "AddAddr", 1, p, "kernel"),
                                                          ge(x["knstat"], "MPJoinSynAckRx", 1, p, "kernel"),
                                                          "kernel received ADD_ADDR and joined it")[-1])))
    c.append(Case("3b-add-addr-from-kernel",
                  k=Side("server", "echo", endpoints=["10.0.2.1,signal"]),
                  m=Side("client", "source", nbytes=MB, limits="subflows=2,add_addr_accepted=1"), server="k",
                  checks=chk_transfer(extra=lambda x, p: (ge(x["knstat"], "AddAddrTx", 1, p, "kernel"),
                                                          ge(x["knstat"], "EchoAdd", 1, p, "kernel"),
                                                          ge(x["knstat"], "MPJoinSynRx", 1, p, "kernel"),
                                                          "echo and join seen by the kernel")[-1])))
    # 4. Fallback.
    c.append(Case("4a-tcp-client-to-mpdk-listener", k=Side("client", "source", proto="tcp", nbytes=MB),
                  m=Side("server", "echo"), server="m", checks=chk_transfer(proto="tcp")))
    c.append(Case("4b-mptcp-client-to-tcp-listener", k=Side("server", "echo", proto="tcp"),
                  m=Side("client", "source", nbytes=MB), server="k", checks=chk_transfer(proto="tcp")))

    def strip_check(x, p):
        ge(x["knstat"], "MPCapableFallbackACK", 1, p, "kernel")
        return "SYN/ACK stripped: both sides fell back"

    c.append(Case("4c-strip-option-30-on-synack", k=Side("server", "echo"), m=Side("client", "source", nbytes=MB),
                  server="k", nft=['iifname "xk1" tcp flags & (syn | ack) == syn | ack reset tcp option mptcp'],
                  checks=chk_transfer(proto="tcp", extra=strip_check)))
    # 5. Closing.
    c.append(Case("5a-data-fin-mpdk-to-kernel", k=Side("server", "sink"), m=Side("client", "source", nbytes=MB),
                  server="k", checks=chk_transfer(extra=lambda x, p: (eq(x["knstat"], "MPFastcloseRx", 0, p, "kernel"),
                                                                      eq(x["knstat"], "MPRstRx", 0, p, "kernel"),
                                                                      "closed by DATA_FIN")[-1])))
    c.append(Case("5b-data-fin-kernel-to-mpdk", k=Side("client", "source", nbytes=MB), m=Side("server", "sink"),
                  server="m", checks=chk_transfer(extra=lambda x, p: (eq(x["knstat"], "MPFastcloseRx", 0, p, "kernel"),
                                                                      eq(x["knstat"], "MPRstRx", 0, p, "kernel"),
                                                                      "closed by DATA_FIN")[-1])))

    def fastclose(direction):
        def f(ctx, problems):
            kr = ctx["kr"] or {}
            if direction == "k2m":
                ge(ctx["knstat"], "MPFastcloseTx", 1, problems, "kernel")
                ge(ctx["mc"], "MPFastcloseRx", 1, problems, "mpdk side")
                need(kr.get("aborted") is True, problems, "the kernel peer did not abort")
            else:
                ge(ctx["mc"], "MPFastcloseTx", 1, problems, "mpdk side")
                ge(ctx["knstat"], "MPFastcloseRx", 1, problems, "kernel")
                need(kr.get("reset_by_peer") is True, problems, "the kernel peer did not see the reset")
                if not ctx["topo"].self_test:
                    need((ctx["mr"] or {}).get("aborted") is True, problems, "mpdk did not report its abort")
            return "MP_FASTCLOSE seen by the other side"
        return f

    c.append(Case("5c-fastclose-from-kernel", k=Side("client", "source", nbytes="64M", abort_after="1M"),
                  m=Side("server", "sink"), server="m", checks=fastclose("k2m"), m_error="connection reset"))
    c.append(Case("5d-fastclose-from-mpdk", k=Side("server", "sink"),
                  m=Side("client", "source", nbytes="64M", abort_after="1M"), server="k", checks=fastclose("m2k")))

    # 6. Checksums: all four combinations.
    for kc in (False, True):
        for mc in (False, True):
            def csum_check(x, p, want=(kc or mc)):
                info = (x["kr"] or {}).get("mptcp_info") or {}
                need(info.get("csum_enabled") == int(want), p,
                     f"kernel csum_enabled={info.get('csum_enabled')}, expected {int(want)}")
                eq(x["knstat"], "DataCsumErr", 0, p, "kernel")
                return f"checksums {'on' if want else 'off'}, DataCsumErr 0"
            c.append(Case(f"6-checksum-kernel{int(kc)}-mpdk{'on' if mc else 'off'}",
                          k=Side("server", "echo", checksum=kc), m=Side("client", "source", nbytes=MB, checksum=mc),
                          server="k", checks=chk_transfer(extra=csum_check)))

    # 7. 1 GiB over two paths, both roles.
    def gbps(x, p):
        mr = x["mr"] or {}
        s = subflows_of(mr)
        if s is not None:
            need(s >= 2, p, f"mpdk side subflows_established={s}, expected 2")
            # Both paths carried data (a subflow per path, each one used).
            used = [f"{sf['local']}-{sf['remote']}" for sf in mr.get("subflows", [])
                    if sf.get("bytes_sent", 0) + sf.get("bytes_received", 0) > 0]
            need(len(used) >= 2, p, f"subflows that carried data: {used}, expected 2")
        return f"{mr.get('gbps', 0):.2f} Gbit/s"

    big = args.big_bytes
    c.append(Case("7a-1GiB-mpdk-client", k=Side("server", "sink"),
                  m=Side("client", "source", nbytes=big, endpoints=["10.0.2.2,subflow,dev=1"]), server="k",
                  timeout=300, checks=chk_transfer(extra=gbps), big=True))
    c.append(Case("7b-1GiB-mpdk-server", k=Side("client", "source", nbytes=big, endpoints=["10.0.2.1,subflow,dev=1"]),
                  m=Side("server", "sink"), server="m", timeout=300, checks=chk_transfer(extra=gbps), big=True))

    # 8. 1% random loss on path 1, in the middle.
    def loss_check(x, p):
        r = x["ktcp"].get("TcpRetransSegs", 0) + (x["mc"].get("RetransSegs", 0) if isinstance(x["mc"], dict) else 0)
        if x["topo"].self_test:
            r += x["topo"].nstat(x["topo"].m).get("TcpRetransSegs", 0)
        need(r > 0, p, "no retransmissions counted under 1% loss")
        return f"retransmitted segments: {r}"

    c.append(Case("8-one-percent-loss", k=Side("server", "echo"),
                  m=Side("client", "source", nbytes="32M", endpoints=["10.0.2.2,subflow,dev=1"]), server="k",
                  nft=["iifname { \"xk1\", \"xm1\" } numgen random mod 100 < 1 drop"], timeout=120,
                  checks=chk_transfer(extra=loss_check)))
    return c


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mpdk", default=os.path.join(HERE, "..", "..", "target", "release", "mpdk"))
    ap.add_argument("--self-test", action="store_true", help="the kernel on both sides (proves the harness)")
    ap.add_argument("--big-bytes", default="1G", help="size of the case-7 transfers")
    ap.add_argument("--only", action="append", help="run cases whose name contains this (repeatable)")
    ap.add_argument("--pcap", action="store_true", help="capture k1/k2 in K into each case's log directory")
    ap.add_argument("--keep-logs", action="store_true", help="keep (and print) the log directory of passing cases too")
    args = ap.parse_args()
    args.mpdk = os.path.abspath(args.mpdk)
    if os.geteuid() != 0:
        print("interop: must run as root (network namespaces)", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(1)
    if not args.self_test and not os.access(args.mpdk, os.X_OK):
        print(f"interop: mpdk binary not found at {args.mpdk}", file=sys.stderr)
        print("0 passed, 1 failed")
        sys.exit(1)
    passed = failed = 0
    for case in cases(args):
        if args.only and not any(o in case.name for o in args.only):
            continue
        if run_case(args, case):
            passed += 1
        else:
            failed += 1
    print(f"{passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 else 1)


if __name__ == "__main__":
    main()
