"""A scripted InfluxDB stand-in (Python stdlib only) for the answers real servers will not
give on demand. It records every request (body gunzipped, split into lines) so that tests can
check exactly which lines arrived, in which order, and how each was answered.

    with FakeInflux() as fake:
        fake.script = [{"status": 503}, {"status": 429, "headers": {"Retry-After": "2"}}]
        fake.bad_marker = "BAD"      # v2 style: any body holding it gets 400, whole batch
        fake.max_lines = 10          # 413 when a body has more lines
        ...fake.url..., fake.requests, fake.accepted_lines()

Scripted answers are used first, one per request, in order; each is a dict with `status`,
optional `body`, `headers`, and `stall` (seconds to sleep before answering). After the script,
the rules (bad_marker, max_lines) apply, else 204.
"""
import gzip
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the output expects

    def log_message(self, *args):
        pass

    def do_POST(self):
        fake = self.server.fake
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        gz = self.headers.get("Content-Encoding", "") == "gzip"
        body = gzip.decompress(raw) if gz else raw
        text = body.decode("utf-8")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        with fake.lock:
            spec = fake.script.pop(0) if fake.script else None
            rec = {"t": time.monotonic(), "path": self.path, "lines": lines, "gzip": gz,
                   "auth": self.headers.get("Authorization"), "status": None}
            fake.requests.append(rec)
        if spec is None:
            if fake.bad_marker and fake.bad_marker in text:
                spec = {"status": 400,
                        "body": '{"code":"invalid","message":"unable to parse line"}'}
            elif fake.max_lines and len(lines) > fake.max_lines:
                spec = {"status": 413, "body": '{"error":"Request Entity Too Large"}'}
            else:
                spec = {"status": 204}
        if spec.get("stall"):
            rec["status"] = "stalled"  # set first: the client is gone before the sleep ends
            time.sleep(spec["stall"])
        else:
            rec["status"] = spec["status"]
        payload = spec.get("body", "").encode()
        try:
            self.send_response(spec["status"])
            for k, v in spec.get("headers", {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (stall past its timeout)


class FakeInflux:
    def __init__(self, port=None):
        self.port = port or free_port()
        self.script = []
        self.bad_marker = None
        self.max_lines = None
        self.requests = []
        self.lock = threading.Lock()
        self.httpd = None

    def start(self):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.fake = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()
            self.httpd = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def accepted_lines(self):
        """Lines of the requests answered 2xx (or partial-write 400), in arrival order."""
        with self.lock:
            return [line for r in self.requests if r["status"] in (200, 204)
                    for line in r["lines"]]
