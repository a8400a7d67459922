#!/usr/bin/env python3
"""Regenerates src/commands/command_meta.resp from a running Redis 7.0 (the reference server).

usage: scripts/gen-command-meta.py PORT > src/commands/command_meta.resp

For every command and subcommand it records what Ochre's command table does not carry itself:
whether Redis reports `movablekeys`, the command tips, the key specifications and the
COMMAND DOCS fields other than summary/since/group (complexity, doc_flags, history,
deprecated_since, replaced_by, arguments). The output is one RESP3 map, name -> [movable,
tips, key_specs, docs], written with "\n" instead of "\r\n" framing so it stays a plain text
file; bulk strings keep their exact lengths.
"""
import socket
import sys


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def send(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(1 << 16)
        l, self.buf = self.buf.split(b"\r\n", 1)
        return l

    def exact(self, n):
        while len(self.buf) < n + 2:
            self.buf += self.s.recv(1 << 16)
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def read(self):
        l = self.line()
        t, rest = l[:1], l[1:]
        if t in (b"+", b"-"):
            return ("simple", rest)
        if t == b":":
            return ("int", int(rest))
        if t in (b"$", b"="):
            n = int(rest)
            return ("null", None) if n < 0 else ("bulk", self.exact(n))
        if t == b"_":
            return ("null", None)
        if t in (b"*", b"~"):
            return ("array", [self.read() for _ in range(int(rest))])
        if t == b"%":
            return ("map", [(self.read(), self.read()) for _ in range(int(rest))])
        raise ValueError(l)


def enc(v):
    t, x = v
    if t == "simple":
        return b"+" + x + b"\n"
    if t == "int":
        return b":%d\n" % x
    if t == "bulk":
        return b"$%d\n%s\n" % (len(x), x)
    if t == "null":
        return b"_\n"
    if t == "array":
        return b"*%d\n" % len(x) + b"".join(enc(e) for e in x)
    if t == "map":
        return b"%%%d\n" % len(x) + b"".join(enc(k) + enc(v) for k, v in x)
    raise ValueError(t)


def text(v):
    return v[1].decode()


def main():
    c = Conn(int(sys.argv[1]))
    c.send("HELLO", "3")
    infos = c.send("COMMAND")[1]
    docs = dict((text(k), v) for k, v in c.send("COMMAND", "DOCS")[1])
    out = []

    def visit(info, doc):
        name = text(info[1][0])
        flags = [text(f) for f in info[1][2][1]]
        movable = ("int", 1 if "movablekeys" in flags else 0)
        tips = info[1][7]
        specs = info[1][8]
        d = [(k, v) for k, v in doc[1] if text(k) not in ("summary", "since", "group", "subcommands")]
        out.append((("bulk", name.encode()), ("array", [movable, tips, specs, ("map", d)])))
        subdocs = dict((text(k), v) for k, v in doc[1]).get("subcommands", ("map", []))
        subdocs = dict((text(k), v) for k, v in subdocs[1])
        for sub in info[1][9][1]:
            visit(sub, subdocs.get(text(sub[1][0]), ("map", [])))

    for info in infos:
        visit(info, docs.get(text(info[1][0]), ("map", [])))
    out.sort(key=lambda kv: kv[0][1])
    sys.stdout.buffer.write(enc(("map", out)))


main()
