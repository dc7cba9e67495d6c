"""A tiny SMTP server for tests: it accepts every message and keeps it (Python has no
smtpd any more). Enough of RFC 5321 for smtplib and Django's SMTP backend, with STARTTLS,
TLS from the first byte, and AUTH PLAIN or LOGIN (any password is taken, and kept).

    sink = SMTPSink()            # a free port is chosen now; nothing listens yet
    sink = SMTPSink(tls="starttls", certificate=(cert, key))  # or tls="implicit" (port 465's way)
    sink.port                    # connections are refused until start()
    sink.start(); ...; sink.stop()
    sink.messages                # each accepted message: {"from", "to", "data"}
    sink.accept_after = 5.0      # a slow server: hold each message this long before the
                                 # 250 that accepts it (a client gone by then delivered nothing)
    sink.holding                 # set while a message is held
    sink.logins                  # each AUTH: (username, password)
    sink.encrypted               # each accepted message: whether it came over TLS

`self_signed_certificate(folder)` writes a certificate for 127.0.0.1 and its key; a
client trusts it with SSL_CERT_FILE pointing at the certificate.
"""

import base64
import datetime
import ipaddress
import socket
import socketserver
import ssl
import threading
import time


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line):
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self):
        sink = self.server.sink
        self.reply("220 sink ESMTP")
        envelope = {"from": None, "to": []}
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip()
            verb = command[:4].upper()
            if verb == "EHLO":
                offers = ["sink", "AUTH PLAIN LOGIN"]
                if sink.tls == "starttls" and not isinstance(self.connection, ssl.SSLSocket):
                    offers.append("STARTTLS")
                for offer in offers[:-1]:
                    self.reply(f"250-{offer}")
                self.reply(f"250 {offers[-1]}")
            elif verb == "HELO":
                self.reply("250 sink")
            elif command.upper() == "STARTTLS" and sink.tls == "starttls":
                self.reply("220 Ready to start TLS")
                self.connection = sink.context.wrap_socket(self.connection, server_side=True)
                self.rfile = self.connection.makefile("rb")
                self.wfile = self.connection.makefile("wb", buffering=0)
            elif verb == "AUTH":
                mechanism, _, given = command[5:].partition(" ")
                if mechanism.upper() == "PLAIN":
                    _, username, password = base64.b64decode(given).decode().split("\0")
                else:  # LOGIN
                    self.reply("334 VXNlcm5hbWU6")
                    username = base64.b64decode(self.rfile.readline().strip()).decode()
                    self.reply("334 UGFzc3dvcmQ6")
                    password = base64.b64decode(self.rfile.readline().strip()).decode()
                sink.logins.append((username, password))
                self.reply("235 Authentication successful")
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
                if sink.accept_after:
                    sink.holding.set()
                    time.sleep(sink.accept_after)
                    sink.holding.clear()
                    if self._client_gone():
                        return  # never accepted: the client did not see a 250
                sink.messages.append({**envelope, "data": b"".join(data).decode(errors="replace")})
                sink.encrypted.append(isinstance(self.connection, ssl.SSLSocket))
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

    def get_request(self):
        connection, address = super().get_request()
        if self.sink.tls == "implicit":
            connection = self.sink.context.wrap_socket(connection, server_side=True)
        return connection, address


class SMTPSink:
    def __init__(self, *, tls=None, certificate=None):
        with socket.socket() as probe:  # a port free now, kept for start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.messages = []
        self.encrypted = []
        self.logins = []
        self.accept_after = 0.0
        self.holding = threading.Event()
        self.tls = tls
        self.context = None
        if tls:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(*certificate)
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


def self_signed_certificate(folder):
    """A certificate for 127.0.0.1 and its key, written in `folder`: (cert path, key path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path
