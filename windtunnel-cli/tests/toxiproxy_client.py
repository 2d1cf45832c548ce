"""Drives `windtunnel proxy` with toxiproxy-python, a Toxiproxy client from PyPI, unchanged.

Run by tests/toxiproxy.rs as `python3 toxiproxy_client.py API_PORT`; prints one JSON line of
figures at the end and exits non-zero on the first expectation that does not hold. Every socket
is on 127.0.0.1, every loop bounded.
"""

import http.client
import http.server
import json
import socket
import socketserver
import sys
import threading
import time

import requests
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import NotFound, ProxyExists


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            while True:
                data = self.request.recv(65536)
                if not data:
                    return
                self.request.sendall(data)
        except OSError:
            return  # reset by a toxic: what the test is about


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # 50 connections arrive at once: the default backlog of 5 would drop SYNs, and a dropped
    # SYN waits a second for its retry.
    request_queue_size = 128


class Web(http.server.BaseHTTPRequestHandler):
    """A keep-alive HTTP/1.1 server that answers every GET with its path, and counts them."""

    protocol_version = "HTTP/1.1"
    seen = []
    ports = set()

    def do_GET(self):
        Web.seen.append(self.path)
        Web.ports.add(self.client_address[1])
        body = self.path.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class WebServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def expect(cond, what):
    if not cond:
        print("FAILED: " + what, file=sys.stderr)
        sys.exit(1)


# Every payload ends its line: the proxy frames HTTP/1.1 for HTTP toxics, and a first message
# that is a bare short word (b"ping") could be the start of a request line, so it would wait
# 200 ms once before passing as bytes.
PING = b"ping\r\n"


def round_trip(addr, payload=PING, timeout=5.0):
    """Seconds for one echo through `addr`."""
    start = time.monotonic()
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    expect(got == payload, "the echo came back whole")
    return time.monotonic() - start


def passes(addr):
    """Whether an echo comes back whole through `addr` within a second."""
    try:
        with socket.create_connection(addr, timeout=1.0) as s:
            s.sendall(PING)
            got = b""
            while len(got) < len(PING):
                chunk = s.recv(64)
                if not chunk:
                    return False
                got += chunk
            return got == PING
    except OSError:
        return False


def main():
    api_port = int(sys.argv[1])
    echo = Server(("127.0.0.1", 0), Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    upstream = "127.0.0.1:%d" % echo.server_address[1]

    server = Toxiproxy()
    server.update_api_consumer("127.0.0.1", api_port)
    expect(server.running(), "the API answers")
    expect(b"windtunnel" in server.version(), "GET /version")

    proxy = server.create(upstream=upstream, name="echo")
    host, port = proxy.listen.rsplit(":", 1)
    addr = (host, int(port))
    expect(proxy.enabled is True, "a new proxy is enabled")
    expect("echo" in server.proxies(), "GET /proxies lists it")
    try:
        server.create(upstream=upstream, name="echo")
        expect(False, "a second proxy of one name is refused")
    except ProxyExists:
        pass

    direct = min(round_trip(addr) for _ in range(5))

    # Latency, as Toxiproxy's: 100 ms on the downstream.
    proxy.add_toxic(type="latency", attributes={"latency": 100, "jitter": 0})
    toxics = proxy.toxics()
    expect(list(toxics) == ["latency_downstream"], "the toxic is listed: %r" % list(toxics))
    slow = round_trip(addr)
    expect(0.1 <= slow < 0.5, "latency 100 ms shows: %.3f s" % slow)
    proxy.destroy_toxic("latency_downstream")
    expect(round_trip(addr) < 0.1, "the latency is gone with its toxic")

    # An unknown toxic type is a 400; a toxic of an unknown proxy a 404.
    r = requests.post(
        "http://127.0.0.1:%d/proxies/echo/toxics" % api_port,
        json={"type": "teleport", "attributes": {}},
    )
    expect(r.status_code == 400 and "unknown toxic type" in r.json()["error"], r.text)
    r = requests.get("http://127.0.0.1:%d/proxies/nope" % api_port)
    expect(r.status_code == 404, "an unknown proxy is a 404")

    # Disabled: nothing gets through; enabled again: it does.
    with proxy.down():
        expect(not passes(addr), "a disabled proxy passes nothing")
    expect(passes(addr), "enabled again")

    # reset_peer with toxicity 0.5 under a seed: a share of the connections is reset, and the
    # tape names exactly them.
    proxy.add_toxic(
        name="flaky", type="reset_peer", toxicity=0.5, attributes={"timeout": 0}
    )
    reset = sum(1 for _ in range(40) if not passes(addr))
    expect(8 <= reset <= 32, "toxicity 0.5 resets about half: %d of 40" % reset)
    tape = requests.get("http://127.0.0.1:%d/windtunnel/tape" % api_port).json()
    taped = [
        c for c in tape["proxies"]["echo"]["connections"]
        if "reset_peer" in tape["proxies"]["echo"]["toxics"][c[0]]
    ]
    expect(len(taped) == reset, "the tape lists the %d resets: %r" % (reset, taped))
    proxy.destroy_toxic("flaky")

    # An HTTP toxic acts per request: on one kept-alive connection, toxicity 0.5 aborts about
    # half of the requests its path matches and no other, and the upstream never sees them.
    web = WebServer(("127.0.0.1", 0), Web)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    site = server.create(upstream="127.0.0.1:%d" % web.server_address[1], name="web")
    site_host, site_port = site.listen.rsplit(":", 1)
    site.add_toxic(
        name="busy", type="http_abort", toxicity=0.5,
        attributes={"status": 503, "body": "busy", "headers": {"retry-after": "1"}, "path": "/api*"},
    )
    conn = http.client.HTTPConnection(site_host, int(site_port), timeout=5)
    statuses = {"api": [], "static": []}
    for i in range(100):
        for kind in ("api", "static"):
            conn.request("GET", "/%s/%d" % (kind, i))
            r = conn.getresponse()
            body = r.read()
            statuses[kind].append(r.status)
            if r.status == 503:
                expect(body == b"busy" and r.getheader("retry-after") == "1", "the synthetic answer")
    conn.close()
    aborted = statuses["api"].count(503)
    expect(20 <= aborted <= 80, "toxicity 0.5 aborts about half the /api requests: %d of 100" % aborted)
    expect(statuses["static"] == [200] * 100, "the path filter spares /static")
    expect(len(Web.ports) == 1, "one kept-alive connection: %r" % Web.ports)
    expect(len(Web.seen) == 200 - aborted, "the upstream saw only what was not aborted")
    tape = requests.get("http://127.0.0.1:%d/windtunnel/tape" % api_port).json()
    expect(
        len(tape["proxies"]["web"].get("exchanges", [])) == aborted,
        "the tape lists the %d aborted requests" % aborted,
    )
    r = requests.post(
        "http://127.0.0.1:%d/proxies/web/toxics" % api_port,
        json={"type": "http_abort", "attributes": {"status": 503, "count": 2}},
    )
    expect(r.status_code == 400 and "no attribute `count`" in r.json()["error"], r.text)
    site.destroy()
    web.shutdown()

    # Toxics changed 1,000 times while 50 connections stream through the proxy: no exchange
    # may wait longer than the toxic of the moment says (at most 20 ms) plus slack.
    stop = threading.Event()
    worst = [0.0] * 50
    count = [0] * 50
    errors = []

    def stream(i):
        try:
            with socket.create_connection(addr, timeout=5.0) as s:
                while not stop.is_set():
                    start = time.monotonic()
                    s.sendall(b"x" * 512)
                    got = 0
                    while got < 512:
                        chunk = s.recv(65536)
                        if not chunk:
                            raise ConnectionError("closed")
                        got += len(chunk)
                    worst[i] = max(worst[i], time.monotonic() - start)
                    count[i] += 1
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    base = "http://127.0.0.1:%d/proxies/echo/toxics" % api_port
    session = requests.Session()
    r = session.post(base, json={"name": "churn", "type": "latency", "attributes": {"latency": 0}})
    expect(r.status_code == 200, r.text)
    change_start = time.monotonic()
    for n in range(1000):
        r = session.post(base + "/churn", json={"attributes": {"latency": n % 21}})
        expect(r.status_code == 200, r.text)
    changes_s = time.monotonic() - change_start
    stop.set()
    for t in threads:
        t.join(timeout=10)
    expect(not errors, "no stream broke: %r" % errors[:3])
    expect(min(count) > 0, "every stream moved")
    stall = max(worst)
    # Python threads under the GIL add their own wait; the toxic's part is at most 20 ms.
    expect(stall < 0.020 + 0.1, "the worst exchange took %.3f s" % stall)

    server.reset()
    expect(proxy.toxics() == {}, "reset removes every toxic")
    proxy.destroy()
    try:
        server.create(upstream=upstream, name="echo2")
    except ProxyExists:
        expect(False, "a new proxy after a delete")
    expect(server.get_proxy("echo") is None, "deleted")
    try:
        requests.delete("http://127.0.0.1:%d/proxies/echo" % api_port).raise_for_status()
        expect(False, "deleting twice is a 404")
    except requests.HTTPError:
        pass
    except NotFound:
        pass

    print(json.dumps({
        "direct_s": round(direct, 4),
        "latency_100ms_s": round(slow, 4),
        "reset_of_40": reset,
        "http_aborted_of_100": aborted,
        "changes": 1000,
        "changes_s": round(changes_s, 3),
        "exchanges": sum(count),
        "worst_exchange_s": round(stall, 4),
    }))


if __name__ == "__main__":
    main()
