#!/usr/bin/env python3
"""A webhook receiver for tests: appends the JSON body of every POST as one line to FILE and answers 200.

usage: webhook_receiver.py PORT FILE    (listens on 127.0.0.1:PORT; prints "listening" once it does)
"""

import http.server
import json
import sys


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
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
print("listening", flush=True)
server.serve_forever()
