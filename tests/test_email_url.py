"""EMAIL_URL, in every scheme django-environ reads, sends the site's emails from a process
started as production starts it (DEBUG off), or stops the start and says why. (Every URL
was read as SMTP: with consolemail:// the site started, then every email failed.)"""

import pytest

from tests.fakes.smtp_server import SMTPSink, self_signed_certificate
from tests.test_settings import DEPLOY, manage

SEND = (
    "from django.core import mail; "
    "sent = mail.send_mail('Your credits', 'Body of the email.', None, ['owner@example.com']); "
    "print('sent', sent, len(getattr(mail, 'outbox', [])))"
)


def send_one_email(email_url, **env):
    """A new process with production settings and this EMAIL_URL sends one email the way
    the site does (send_mail through the default mailer)."""
    return manage("shell", "-c", SEND, **{**DEPLOY, "EMAIL_URL": email_url, **env})


def assert_sent(done):
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def test_consolemail_prints_each_email():
    lines = assert_sent(send_one_email("consolemail://"))
    assert "Subject: Your credits" in lines and lines[-1].startswith("sent 1")


def test_filemail_writes_each_email_in_its_folder(tmp_path):
    folder = tmp_path / "mail"
    assert_sent(send_one_email(f"filemail:///{folder}"))  # an absolute path: four slashes
    (written,) = folder.iterdir()
    assert "Subject: Your credits" in written.read_text()


def test_filemail_without_a_folder_refuses_to_start():
    done = manage("check", **{**DEPLOY, "EMAIL_URL": "filemail://"})
    assert done.returncode != 0 and "filemail:// needs a folder" in done.stderr


def test_a_filemail_folder_that_cannot_be_written_stops_every_command_at_start(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    done = manage("check", **{**DEPLOY, "EMAIL_URL": f"filemail:///{not_a_folder}"})
    assert done.returncode != 0
    assert "config.E001" in done.stderr and "Emails cannot be sent" in done.stderr and "not a directory" in done.stderr


def test_memorymail_keeps_each_email_in_the_outbox():
    assert assert_sent(send_one_email("memorymail://"))[-1] == "sent 1 1"


def test_dummymail_takes_each_email_and_sends_nothing():
    assert assert_sent(send_one_email("dummymail://"))[-1] == "sent 1 0"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize(
    "scheme, tls",
    [
        ("smtp", None),
        ("smtp+tls", "starttls"),
        ("smtps", "starttls"),  # django-environ's smtps:// is STARTTLS, as smtp+tls://
        ("smtp+ssl", "implicit"),
    ],
)
def test_smtp_sends_through_the_mail_server_with_the_urls_login_and_tls(certificate, scheme, tls):
    sink = SMTPSink(tls=tls, certificate=certificate if tls else None).start()
    try:
        done = send_one_email(f"{scheme}://mailer:s%40cret@127.0.0.1:{sink.port}", SSL_CERT_FILE=str(certificate[0]))
        assert assert_sent(done)[-1].startswith("sent 1")
    finally:
        sink.stop()
    assert sink.logins == [("mailer", "s@cret")]
    assert [message["to"] for message in sink.messages] == [["<owner@example.com>"]]
    assert sink.encrypted == [tls is not None]


@pytest.mark.parametrize(
    "email_url, reason",
    [
        ("smtp://", "smtp:// needs a mail server"),
        ("smtp://mailer:secret@mail.example.com:587?use_tls=false", "EMAIL_URL takes no query"),
        ("sendgrid://mailer:secret@mail.example.com", "EMAIL_URL must start with one of smtp://"),
        ("mail.example.com:587", "(it starts with no scheme)"),
    ],
)
def test_an_email_url_no_backend_can_send_with_refuses_to_start_and_says_why(email_url, reason):
    done = manage("check", **{**DEPLOY, "EMAIL_URL": email_url})
    assert done.returncode != 0 and reason in done.stderr
    assert "secret" not in done.stderr  # the reason, never the URL and its password


def test_with_consolemail_an_unverified_user_logging_in_is_sent_the_link(client, db, settings, capsys):
    # The symptom seen with consolemail://: this log-in answered 500 (the mailer refused
    # SMTP's options). The mailer here is the one the settings build from the URL.
    from config.mailers import mailer_from_url

    settings.MAILERS = {"default": mailer_from_url("consolemail://", timeout=5)}
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    password = "a-long-passphrase-9"
    signed_up = client.post(
        "/accounts/signup/", {"email": "new@example.com", "password1": password, "password2": password}
    )
    assert signed_up.status_code == 302
    printed = capsys.readouterr().out
    assert "To: new@example.com" in printed and "confirm-email" in printed.replace("=\n", "")
    logged_in = client.post("/accounts/login/", {"login": "new@example.com", "password": password})
    assert logged_in.status_code == 302 and "confirm-email" in logged_in["Location"]
