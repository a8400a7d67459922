#!/usr/bin/env python3
"""Workloads that ../shared/bench does not have, Ochre against redis-server in one run:
server CPU per request for EVALSHA of a 3-command script, PUBLISH to one subscriber and XADD
of two small fields (issues 4 and 6), and the bytes per entry of a 1M-entry stream.

Method, as compare.sh's: both servers pinned to CPU 1, redis-benchmark to CPU 0, -c 50 -P 16,
the same request count for both, rounds alternating A,B / B,A; server CPU is the sum over all
its threads of /proc/PID/task/*/schedstat run time. Quote the paired ratios, never the
absolute figures (the machine is shared).

Stream memory: each server is filled with 1,000,000 `XADD stream * f1 <8 bytes> f2 <8 bytes>`
(pipelined) and reports INFO used_memory and VmRSS growth per entry.

usage: scripts/bench-extra.py [--rounds 5] [--n 300000] [--entries 1000000] [--only evalsha]
       [--port 7240] [--a 'redis-server --port {port} ...'] [--b 'target/release/ochre-server --port {port} ...']
"""
import argparse
import glob
import os
import socket
import statistics
import subprocess
import time

SCRIPT = ("redis.call('INCR', KEYS[1]); redis.call('SET', KEYS[2], ARGV[1]); "
          "return redis.call('GET', KEYS[2])")


def cmd(port, *args):
    """One command over a fresh connection; returns the raw reply line(s)."""
    s = socket.create_connection(("127.0.0.1", port))
    req = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in (x.encode() for x in args))
    s.sendall(req)
    data = s.recv(65536)
    s.close()
    return data


def start(template, port):
    p = subprocess.Popen(["taskset", "-c", "1", "bash", "-c", "exec " + template.format(port=port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            if cmd(port, "PING").startswith(b"+PONG"):
                return p
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not start: " + template)


def cpu_ns(pid):
    total = 0
    for f in glob.glob("/proc/%d/task/*/schedstat" % pid):
        try:
            total += int(open(f).read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def run(port, pid, n, args):
    c0 = cpu_ns(pid)
    subprocess.run(["taskset", "-c", "0", "redis-benchmark", "-p", str(port), "-c", "50", "-P", "16",
                    "-n", str(n), "-r", "100000", "-q"] + args,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return (cpu_ns(pid) - c0) / 1000.0 / n  # us per request


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--a", default='redis-server --port {port} --bind 127.0.0.1 --save "" --appendonly no')
    ap.add_argument("--b", default=os.path.join(os.path.dirname(__file__), "..", "target", "release",
                                                "ochre-server") + ' --port {port} --save ""')
    ap.add_argument("--name-a", default="redis")
    ap.add_argument("--name-b", default="ochre")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n", type=int, default=300000)
    ap.add_argument("--entries", type=int, default=1000000)
    ap.add_argument("--only", default="", help="run only the workloads whose name contains this "
                    "(case-insensitive), and skip the stream memory test")
    ap.add_argument("--port", type=int, default=7240, help="first of the 4 ports used")
    a = ap.parse_args()
    servers = []
    for name, tmpl, port in ((a.name_a, a.a, a.port), (a.name_b, a.b, a.port + 1)):
        p = start(tmpl, port)
        sha = cmd(port, "SCRIPT", "LOAD", SCRIPT).split(b"\r\n")[1].decode()
        # One subscriber that reads everything (redis-cli keeps up with the stream).
        sub = subprocess.Popen(["taskset", "-c", "0", "redis-cli", "-p", str(port), "SUBSCRIBE", "ch"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        servers.append((name, port, p, sha, sub))
    time.sleep(0.5)
    workloads = {
        "EVALSHA (3 commands)": lambda s: ["EVALSHA", s[3], "2", "counter:__rand_int__", "key:__rand_int__", "xxx"],
        "PUBLISH (1 subscriber)": lambda s: ["PUBLISH", "ch", "hello-world-message"],
        "XADD (2 fields)": lambda s: ["XADD", "stream", "*", "f1", "v1:__rand_int__", "f2", "v2"],
    }
    try:
        print("# server CPU us/request at -c 50 -P 16, %d requests per run, %d rounds" % (a.n, a.rounds))
        print("%-24s %10s %10s %8s  (min-max)" % ("workload", a.name_a, a.name_b, "b/a"))
        for wl, argf in workloads.items():
            if a.only.lower() not in wl.lower():
                continue
            per = {s[0]: [] for s in servers}
            ratios = []
            for r in range(a.rounds):
                order = servers if r % 2 == 0 else servers[::-1]
                got = {}
                for s in order:
                    got[s[0]] = run(s[1], s[2].pid, a.n, argf(s))
                    per[s[0]].append(got[s[0]])
                ratios.append(got[a.name_b] / got[a.name_a])
            print("%-24s %10.3f %10.3f %8.3f  (%.3f-%.3f)" % (
                wl, statistics.median(per[a.name_a]), statistics.median(per[a.name_b]),
                statistics.median(ratios), min(ratios), max(ratios)))
        for s in servers:
            s[4].kill()
            s[2].kill()
        servers = []
        if not a.only:
            stream_memory(a)
    finally:
        for s in servers:
            s[4].kill()
            s[2].kill()


def used_and_rss(port, pid):
    info = cmd(port, "INFO", "memory").decode(errors="replace")
    used = next(int(l.split(":")[1]) for l in info.split("\r\n") if l.startswith("used_memory:"))
    rss = next(int(l.split()[1]) * 1024 for l in open("/proc/%d/status" % pid) if l.startswith("VmRSS:"))
    return used, rss


def stream_memory(a):
    n = a.entries
    payload = b"".join(b"*7\r\n$4\r\nXADD\r\n$6\r\nstream\r\n$1\r\n*\r\n$2\r\nf1\r\n$8\r\n%08d\r\n"
                       b"$2\r\nf2\r\n$8\r\n%08d\r\n" % (i, n - i) for i in range(n))
    print("# stream of %d entries, 2 fields of 8 bytes each: bytes per entry (growth)" % n)
    print("%-8s %12s %12s" % ("server", "used B/e", "RSS B/e"))
    res = {}
    for name, tmpl, port in ((a.name_a, a.a, a.port + 2), (a.name_b, a.b, a.port + 3)):
        p = start(tmpl, port)
        time.sleep(0.5)
        u0, r0 = used_and_rss(port, p.pid)
        subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=payload,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        time.sleep(1.5)
        u1, r1 = used_and_rss(port, p.pid)
        p.kill()
        res[name] = ((u1 - u0) / n, (r1 - r0) / n)
        print("%-8s %12.1f %12.1f" % (name, res[name][0], res[name][1]))
    print("# %s/%s: used %.3f, RSS %.3f" % (a.name_b, a.name_a, res[a.name_b][0] / res[a.name_a][0],
                                           res[a.name_b][1] / res[a.name_a][1]))


if __name__ == "__main__":
    main()
