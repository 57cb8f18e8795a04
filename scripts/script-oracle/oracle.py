import sys; sys.setrecursionlimit(100000)
import socket, json, sys
class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port)); self.buf = b""
    def send(self, args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode('latin1') if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
    def line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(1 << 20)
        i = self.buf.index(b"\r\n"); l = self.buf[:i+2]; self.buf = self.buf[i+2:]; return l
    def exact(self, n):
        while len(self.buf) < n:
            self.buf += self.s.recv(1 << 20)
        d = self.buf[:n]; self.buf = self.buf[n:]; return d
    def reply(self):
        l = self.line(); t = l[:1]
        if t in b"$=!":
            n = int(l[1:-2])
            return l if n < 0 else l + self.exact(n + 2)
        if t in b"*~>":
            n = int(l[1:-2]); out = l
            for _ in range(max(n, 0)): out += self.reply()
            return out
        if t in b"%|":
            n = int(l[1:-2]); out = l
            for _ in range(2*n): out += self.reply()
            return out
        return l
    def cmd(self, *args):
        self.send(list(args)); return self.reply()
cases = json.load(open(sys.argv[1]))
c = Conn(int(sys.argv[3]) if len(sys.argv) > 3 else 16399)
out = []
for case in cases:
    c.cmd("flushall")
    c.cmd("hello", "3" if case["resp3"] else "2")
    name = "eval_ro" if case["ro"] else "eval"
    r = c.cmd(name, case["script"], str(len(case["keys"])), *case["keys"], *case["args"])
    case["expected"] = r.decode('latin1')
    out.append(case)
json.dump(out, open(sys.argv[2], 'w'))
print(len(out))
if len(sys.argv) > 4:
    fns = json.load(open(sys.argv[4]))
    for case in fns:
        c.cmd("flushall"); c.cmd("function", "flush"); c.cmd("hello", "2")
        case["expected_load"] = c.cmd("function", "load", case["code"]).decode('latin1')
        if case["fn"]:
            name = "fcall_ro" if case["ro"] else "fcall"
            case["expected"] = c.cmd(name, case["fn"], str(len(case["keys"])), *case["keys"], *case["args"]).decode('latin1')
    json.dump(fns, open(sys.argv[5], 'w'))
    print(len(fns))
