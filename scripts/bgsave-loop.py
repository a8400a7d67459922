#!/usr/bin/env python3
"""bgloop.py PORT SECONDS GAP: BGSAVE back to back (GAP s apart) over one connection for SECONDS;
polls INFO persistence every 20 ms. Prints saves done and the mean save time."""
import socket, sys, time
port, secs, gap = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port)); f = s.makefile("rb")
def cmd(*a):
    s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
    l = f.readline()
    if l[:1] == b"$":
        n = int(l[1:]); d = f.read(n + 2); return d
    return l
end = time.time() + secs; n = 0; tot = 0.0
while time.time() < end:
    t0 = time.time(); cmd(b"BGSAVE")
    while b"rdb_bgsave_in_progress:1" in cmd(b"INFO", b"persistence"): time.sleep(0.02)
    tot += time.time() - t0; n += 1
    time.sleep(gap)
print(f"saves {n} mean_save_ms {tot / max(n, 1) * 1000:.0f}")
