#!/usr/bin/env python3
"""A webhook receiver for tests: appends the JSON body of every POST as one line to FILE and answers 200.

usage: webhook_receiver.py PORT FILE [FAIL_FIRST]
    Listens on 127.0.0.1:PORT and prints "listening" once it does. With FAIL_FIRST, the first FAIL_FIRST requests
    are answered 503 (and not recorded), so that the sender's retry path runs.
"""

import http.server
import json
import sys
import threading


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            failing = self.server.failures_left > 0
            self.server.failures_left -= failing
        if failing:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        record = {"path": self.path, "body": json.loads(body or b"null")}
        with open(self.server.record_file, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver)
server.record_file = sys.argv[2]
server.failures_left = int(sys.argv[3]) if len(sys.argv) > 3 else 0
server.lock = threading.Lock()
print("listening", flush=True)
server.serve_forever()
