"""A tiny SMTP server for tests: it accepts every message and keeps it (Python has no
smtpd any more). Enough of RFC 5321 for smtplib and Django's SMTP backend: no TLS, no AUTH.

    sink = SMTPSink()            # a free port is chosen now; nothing listens yet
    sink.port                    # connections are refused until start()
    sink.start(); ...; sink.stop()
    sink.messages                # each accepted message: {"from", "to", "data"}
"""

import socket
import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        self.reply("220 sink ESMTP")
        envelope = {"from": None, "to": []}
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 sink")
            elif verb == "MAIL":
                envelope = {"from": command.split(":", 1)[1].strip(), "to": []}
                self.reply("250 OK")
            elif verb == "RCPT":
                envelope["to"].append(command.split(":", 1)[1].strip())
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while (part := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(part)
                self.server.sink.messages.append({**envelope, "data": b"".join(data).decode(errors="replace")})
                self.reply("250 OK: queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:  # RSET, NOOP and anything else
                self.reply("250 OK")


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class SMTPSink:
    def __init__(self):
        with socket.socket() as probe:  # a port free now, kept for start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.messages = []
        self._server = None

    def start(self):
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.sink = self
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self):
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
