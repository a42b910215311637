"""The national cryptographic algorithms (国产密码): SM3 hashes, SM4 encryption, SM2 signatures.

This module is the only place banjian touches cryptographic primitives:

- SM3 (GB/T 32905) hashes through ``cryptography``, falling back to ``gmalg``'s SM3 when the
  installed OpenSSL lacks it;
- SM4 (GB/T 32907) authenticated encryption in GCM mode through ``cryptography``;
- SM2 (GB/T 32918) signatures through the pure-Python ``gmalg`` package (not ``gmssl``,
  whose 3.2.2 release corrupts some keys), with the standard default user id
  ``1234567812345678``; and the persisted system signing key.

Formats (all hex is lower case):
- SM2 private key: 64 hex chars (the scalar d, 32 bytes big-endian);
- SM2 public key: 130 hex chars, ``04 || x || y`` (uncompressed point);
- SM2 signature: 128 hex chars, ``r || s`` (32 bytes each, big-endian);
- SM4 token: ``0x01 || nonce (12 bytes) || ciphertext || GCM tag (16 bytes)``; the first
  byte names the format so that it can change later without ambiguity.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import gmalg
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = [
    "SM2_DEFAULT_UID",
    "CryptoError",
    "Sm2Signer",
    "load_or_create_signer",
    "sm2_verify",
    "sm3_digest",
    "sm3_hex",
    "sm4_decrypt",
    "sm4_ecb_encrypt_block",
    "sm4_encrypt",
    "sm4_generate_key",
]

SM2_DEFAULT_UID = b"1234567812345678"

# SM2 recommended curve (GB/T 32918.5): y^2 = x^3 + ax + b over F_p, group order n, cofactor 1.
_P = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF
_A = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFC
_B = 0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93
_N = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123

_SM4_FORMAT_GCM = b"\x01"
_SM4_NONCE_LEN = 12
_SM4_TAG_LEN = 16


class CryptoError(ValueError):
    """A key, token or key file that cannot be used.

    Attributes mirror the API error body: ``code`` (machine code), ``message`` (Chinese),
    ``message_en`` (English).
    """

    def __init__(self, code: str, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message = message
        self.message_en = message_en


# --- SM3 ---------------------------------------------------------------------------------------
def _cryptography_has_sm3() -> bool:
    try:
        hashes.Hash(hashes.SM3())
    except (AttributeError, UnsupportedAlgorithm):
        return False
    return True


_HAS_SM3 = _cryptography_has_sm3()


def sm3_digest(data: bytes) -> bytes:
    """Return the 32-byte SM3 digest of ``data``."""
    if _HAS_SM3:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()
    fallback = gmalg.SM3()
    fallback.update(data)
    return fallback.value()


def sm3_hex(data: bytes) -> str:
    """Return the SM3 digest of ``data`` as 64 lower-case hex characters."""
    return sm3_digest(data).hex()


def hmac_sm3_hex(key: bytes, data: bytes) -> str:
    """HMAC-SM3 (RFC 2104 over SM3, GB/T 15852.2) of ``data`` as 64 lower-case hex characters: the
    signature of the event feed (`X-Banjian-Signature`)."""
    if _HAS_SM3:
        mac = crypto_hmac.HMAC(key, hashes.SM3())
        mac.update(data)
        return mac.finalize().hex()
    block = 64  # SM3's block size in bytes
    if len(key) > block:
        key = sm3_digest(key)
    key = key.ljust(block, b"\0")
    inner = sm3_digest(bytes(b ^ 0x36 for b in key) + data)
    return sm3_digest(bytes(b ^ 0x5C for b in key) + inner).hex()


class Sm3Stream:
    """SM3 over data that arrives in pieces (an upload): `update` each piece, then `hexdigest`."""

    def __init__(self) -> None:
        self._h = hashes.Hash(hashes.SM3()) if _HAS_SM3 else gmalg.SM3()

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def hexdigest(self) -> str:
        return (self._h.finalize() if _HAS_SM3 else self._h.value()).hex()


# --- SM4 ---------------------------------------------------------------------------------------
def _check_sm4_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != 16:
        raise CryptoError(
            "invalid_sm4_key",
            "SM4密钥应为16字节。",
            "An SM4 key is 16 bytes.",
        )


def sm4_generate_key() -> bytes:
    """Return a fresh random 16-byte SM4 key."""
    return secrets.token_bytes(16)


def sm4_ecb_encrypt_block(key: bytes, block: bytes) -> bytes:
    """Encrypt exactly one 16-byte block with raw SM4 (ECB). For known-answer tests only."""
    _check_sm4_key(key)
    if len(block) != 16:
        raise ValueError("an SM4 block is 16 bytes")
    encryptor = Cipher(algorithms.SM4(bytes(key)), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def sm4_encrypt(key: bytes, plaintext: bytes, associated_data: bytes | None = None) -> bytes:
    """Encrypt ``plaintext`` with SM4-GCM under a 16-byte key and a random nonce.

    ``associated_data``, if given, is authenticated but not encrypted; the same bytes must be
    passed to :func:`sm4_decrypt`. Returns ``0x01 || nonce || ciphertext || tag``.
    """
    _check_sm4_key(key)
    nonce = secrets.token_bytes(_SM4_NONCE_LEN)
    encryptor = Cipher(algorithms.SM4(bytes(key)), modes.GCM(nonce)).encryptor()
    if associated_data:
        encryptor.authenticate_additional_data(associated_data)
    ciphertext = encryptor.update(plaintext) + encryptor.finalize()
    return _SM4_FORMAT_GCM + nonce + ciphertext + encryptor.tag


def sm4_decrypt(key: bytes, token: bytes, associated_data: bytes | None = None) -> bytes:
    """Decrypt a token made by :func:`sm4_encrypt`.

    Raises:
        CryptoError: code ``sm4_decrypt_failed`` if the token is malformed, was altered, or
            the key or associated data differ.
    """
    _check_sm4_key(key)
    failed = CryptoError(
        "sm4_decrypt_failed",
        "SM4解密失败：密文格式错误、已被篡改或密钥不符。",
        "SM4 decryption failed: the token is malformed, was altered, or the key does not match.",
    )
    if len(token) < 1 + _SM4_NONCE_LEN + _SM4_TAG_LEN or token[:1] != _SM4_FORMAT_GCM:
        raise failed
    nonce = token[1 : 1 + _SM4_NONCE_LEN]
    ciphertext, tag = token[1 + _SM4_NONCE_LEN : -_SM4_TAG_LEN], token[-_SM4_TAG_LEN:]
    decryptor = Cipher(algorithms.SM4(bytes(key)), modes.GCM(nonce, tag)).decryptor()
    if associated_data:
        decryptor.authenticate_additional_data(associated_data)
    try:
        return decryptor.update(ciphertext) + decryptor.finalize()
    except InvalidTag:
        raise failed from None


# --- SM2 ---------------------------------------------------------------------------------------
def _parse_public_key(public_key_hex: str) -> bytes | None:
    """Return the uncompressed point bytes if ``public_key_hex`` is a point on the curve."""
    try:
        raw = bytes.fromhex(public_key_hex)
    except (TypeError, ValueError):
        return None
    if len(raw) == 64:
        raw = b"\x04" + raw
    if len(raw) != 65 or raw[0] != 4:
        return None
    x, y = int.from_bytes(raw[1:33], "big"), int.from_bytes(raw[33:], "big")
    # The curve's cofactor is 1, so any affine point on it is a valid public key.
    if x >= _P or y >= _P or (y * y - (x * x * x + _A * x + _B)) % _P != 0:
        return None
    return raw


def _parse_signature(signature_hex: str) -> tuple[bytes, bytes] | None:
    try:
        raw = bytes.fromhex(signature_hex)
    except (TypeError, ValueError):
        return None
    if len(raw) != 64:
        return None
    return raw[:32], raw[32:]


class Sm2Signer:
    """An SM2 signing key (GB/T 32918.2) with its user id (default ``1234567812345678``).

    Signing costs about 20 ms in pure Python; creating a signer (deriving the public key)
    about 15 ms, so keep one instance per key.
    """

    def __init__(self, private_key_hex: str, uid: bytes = SM2_DEFAULT_UID) -> None:
        """Create a signer from a private key given as hex (the scalar d, 1 ≤ d ≤ n−2)."""
        try:
            d = int(private_key_hex, 16)
        except (TypeError, ValueError):
            d = 0
        if not 1 <= d <= _N - 2:
            raise CryptoError(
                "invalid_sm2_private_key",
                "SM2私钥无效（应为1到n-2之间的十六进制整数）。",
                "Invalid SM2 private key (a hex integer between 1 and n-2).",
            )
        self._d = d.to_bytes(32, "big")
        self._uid = bytes(uid)
        self._public_key = gmalg.SM2().generate_pk(self._d)
        self._sm2 = gmalg.SM2(sk=self._d, uid=self._uid, pk=self._public_key)

    @classmethod
    def generate(cls, uid: bytes = SM2_DEFAULT_UID) -> Sm2Signer:
        """Create a signer with a fresh random key."""
        d = secrets.randbelow(_N - 2) + 1
        return cls(d.to_bytes(32, "big").hex(), uid)

    @property
    def private_key_hex(self) -> str:
        """The private key, 64 hex characters. Keep it secret."""
        return self._d.hex()

    @property
    def public_key_hex(self) -> str:
        """The public key, 130 hex characters (``04 || x || y``)."""
        return self._public_key.hex()

    @property
    def uid(self) -> bytes:
        """The signer's user id (part of the signed digest)."""
        return self._uid

    def sign(self, data: bytes) -> str:
        """Sign ``data``; return the signature as 128 hex characters (``r || s``)."""
        r, s = self._sm2.sign(data)
        return (r.rjust(32, b"\x00") + s.rjust(32, b"\x00")).hex()

    def verify(self, data: bytes, signature_hex: str) -> bool:
        """Check a signature made with this key."""
        return sm2_verify(self.public_key_hex, data, signature_hex, self._uid)

    def __repr__(self) -> str:
        return f"Sm2Signer(public_key_hex={self.public_key_hex!r})"


def sm2_verify(public_key_hex: str, data: bytes, signature_hex: str, uid: bytes = SM2_DEFAULT_UID) -> bool:
    """Check an SM2 signature (hex ``r || s``) on ``data`` against a hex public key.

    The public key may be ``04 || x || y`` or bare ``x || y``. Returns False, never raises,
    for a malformed key or signature, a key not on the curve, or a signature that fails.
    """
    public_key = _parse_public_key(public_key_hex)
    signature = _parse_signature(signature_hex)
    if public_key is None or signature is None:
        return False
    r, s = signature
    return bool(gmalg.SM2(pk=public_key, uid=bytes(uid)).verify(data, r, s))


def load_or_create_signer(path: Path, uid: bytes = SM2_DEFAULT_UID) -> Sm2Signer:
    """Load the system signing key from ``path``, creating it (mode 0600) if it does not exist.

    The file holds the private key as one line of hex. Creation is atomic and safe when
    several processes start at once: the first key written wins and the others load it.
    A file that exists but does not hold a valid key raises :class:`CryptoError` rather than
    being replaced, since signatures already issued depend on it.
    """
    path = Path(path)
    if not path.exists():
        _create_key_file(path, Sm2Signer.generate(uid).private_key_hex)
    with contextlib.suppress(OSError):  # e.g. a read-only mount; reading still works
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    try:
        text = path.read_text(encoding="ascii").strip()
        return Sm2Signer(text, uid)
    except (UnicodeDecodeError, CryptoError):
        raise CryptoError(
            "invalid_key_file",
            f"系统签名密钥文件“{path}”内容无效。",
            f"The system signing key file '{path}' does not hold a valid SM2 private key.",
        ) from None


def _create_key_file(path: Path, private_key_hex: str) -> None:
    """Write a new key file atomically; if another process created one first, keep theirs."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        _write_exclusive(tmp, private_key_hex)
        try:
            os.link(tmp, path)  # fails if the key already exists: never overwrite a key
        except FileExistsError:
            pass
        except OSError:  # a filesystem without hard links: exclusive create instead
            _write_exclusive(path, private_key_hex)
    finally:
        tmp.unlink(missing_ok=True)


def _write_exclusive(path: Path, private_key_hex: str) -> None:
    """Create ``path`` with mode 0600 (failing if it exists) and write the key durably."""
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(private_key_hex + "\n")
            f.flush()
            os.fsync(f.fileno())
