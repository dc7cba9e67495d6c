"""A tiny SMTP server for tests: it accepts every message and keeps it (Python has no
smtpd any more). Enough of RFC 5321 for smtplib and Django's SMTP backend: no TLS, no AUTH.

    sink = SMTPSink()            # a free port is chosen now; nothing listens yet
    sink.port                    # connections are refused until start()
    sink.start(); ...; sink.stop()
    sink.messages                # each accepted message: {"from", "to", "data"}
    sink.accept_after = 5.0      # a slow server: hold each message this long before the
                                 # 250 that accepts it (a client gone by then delivered nothing)
    sink.holding                 # set while a message is held
"""

import socket
import socketserver
import threading
import time


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
                sink = self.server.sink
                if sink.accept_after:
                    sink.holding.set()
                    time.sleep(sink.accept_after)
                    sink.holding.clear()
                    if self._client_gone():
                        return  # never accepted: the client did not see a 250
                sink.messages.append({**envelope, "data": b"".join(data).decode(errors="replace")})
                self.reply("250 OK: queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:  # RSET, NOOP and anything else
                self.reply("250 OK")

    def _client_gone(self):
        self.connection.setblocking(False)
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False  # nothing to read, still connected
        except OSError:
            return True
        finally:
            self.connection.setblocking(True)


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class SMTPSink:
    def __init__(self):
        with socket.socket() as probe:  # a port free now, kept for start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.messages = []
        self.accept_after = 0.0
        self.holding = threading.Event()
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
