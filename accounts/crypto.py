"""Encryption at rest for secrets we must use later (users' own API keys).

FIELD_ENCRYPTION_KEYS is a comma-separated list of Fernet keys: the first encrypts,
every one decrypts, so a new key is rotated in by putting it first and running
`manage.py rotate_encryption_keys` before the old one is removed.
"""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class DecryptionFailed(Exception):
    """No configured key opens this value (a key was removed too early)."""


def _fernet():
    return MultiFernet([Fernet(key.encode()) for key in settings.FIELD_ENCRYPTION_KEYS])


def encrypt(plaintext):
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext):
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise DecryptionFailed("No key in FIELD_ENCRYPTION_KEYS opens this value.") from None


def rotate(ciphertext):
    """The same plaintext, encrypted with the first (newest) key."""
    return _fernet().rotate(ciphertext.encode()).decode()


def new_key():
    return Fernet.generate_key().decode()
