"""Known-answer and behaviour tests for banjian.crypto (SM3, SM4, SM2)."""

import os
import stat
import time
from pathlib import Path

import gmalg
import pytest
from cryptography.hazmat.primitives import hashes

from banjian.crypto import (
    CryptoError,
    Sm2Signer,
    load_or_create_signer,
    sm2_verify,
    sm3_digest,
    sm3_hex,
    sm4_decrypt,
    sm4_ecb_encrypt_block,
    sm4_encrypt,
    sm4_generate_key,
)

# GB/T 32918 (SM2) worked example on the recommended curve: signer A, ID_A = 1234567812345678,
# message "message digest", random k, and the resulting signature.
SM2_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
SM2_PX = "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
SM2_PY = "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
SM2_K = "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21"
SM2_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
SM2_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
SM2_MSG = b"message digest"


@pytest.fixture(scope="module")
def signer() -> Sm2Signer:
    return Sm2Signer.generate()


# --- SM3 ---------------------------------------------------------------------------------------
def test_sm3_of_abc_matches_gbt_32905_vector() -> None:
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_of_64_bytes_matches_gbt_32905_second_vector() -> None:
    assert sm3_hex(b"abcd" * 16) == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_sm3_cryptography_and_gmalg_agree() -> None:
    data = os.urandom(1000)
    h = gmalg.SM3()
    h.update(data)
    assert sm3_digest(data) == h.value()
    assert hasattr(hashes, "SM3")  # the installed cryptography provides SM3 itself


# --- SM4 ---------------------------------------------------------------------------------------
def test_sm4_block_matches_gbt_32907_vector() -> None:
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    assert sm4_ecb_encrypt_block(key, key).hex() == "681edf34d206965e86b3e94f536e4246"


def test_sm4_round_trip_with_random_nonce() -> None:
    key = sm4_generate_key()
    plaintext = "申请材料：营业执照副本".encode()
    a, b = sm4_encrypt(key, plaintext), sm4_encrypt(key, plaintext)
    assert a != b  # fresh nonce each time
    assert len(a) == 1 + 12 + len(plaintext) + 16
    assert sm4_decrypt(key, a) == sm4_decrypt(key, b) == plaintext
    assert sm4_decrypt(key, sm4_encrypt(key, b"")) == b""


def test_sm4_associated_data_must_match() -> None:
    key = sm4_generate_key()
    token = sm4_encrypt(key, b"secret", associated_data=b"case-42")
    assert sm4_decrypt(key, token, associated_data=b"case-42") == b"secret"
    with pytest.raises(CryptoError):
        sm4_decrypt(key, token, associated_data=b"case-43")


def test_sm4_tampered_token_wrong_key_and_garbage_fail() -> None:
    key = sm4_generate_key()
    token = bytearray(sm4_encrypt(key, b"hello world"))
    token[15] ^= 1
    for bad_key, bad_token in [
        (key, bytes(token)),
        (sm4_generate_key(), sm4_encrypt(key, b"x")),
        (key, b"\x01short"),
    ]:
        with pytest.raises(CryptoError) as info:
            sm4_decrypt(bad_key, bad_token)
        assert info.value.code == "sm4_decrypt_failed"


def test_sm4_rejects_keys_that_are_not_16_bytes() -> None:
    with pytest.raises(CryptoError) as info:
        sm4_encrypt(b"short", b"data")
    assert info.value.code == "invalid_sm4_key"


# --- SM2 ---------------------------------------------------------------------------------------
def test_sm2_public_key_of_standard_private_key() -> None:
    assert Sm2Signer(SM2_D).public_key_hex == ("04" + SM2_PX + SM2_PY).lower()


def test_sm2_standard_signature_verifies() -> None:
    public = "04" + SM2_PX + SM2_PY
    assert sm2_verify(public, SM2_MSG, SM2_R + SM2_S)
    assert sm2_verify(SM2_PX + SM2_PY, SM2_MSG, SM2_R + SM2_S)  # bare x || y accepted
    assert not sm2_verify(public, SM2_MSG, SM2_R + SM2_S, uid=b"ALICE123@YAHOO.COM")


def test_gmalg_reproduces_standard_signature_with_standard_k() -> None:
    k = int(SM2_K, 16)
    sm2 = gmalg.SM2(bytes.fromhex(SM2_D), b"1234567812345678", rnd_fn=lambda _bits: k)
    r, s = sm2.sign(SM2_MSG)
    assert (r.hex().upper(), s.hex().upper()) == (SM2_R, SM2_S)


def test_sm2_sign_verify_round_trip(signer: Sm2Signer) -> None:
    data = "电子证照 1.2.156.3005.2".encode()
    signature = signer.sign(data)
    assert len(signature) == 128
    assert sm2_verify(signer.public_key_hex, data, signature)
    assert signer.verify(data, signature)


def test_sm2_tampered_data_or_signature_fails(signer: Sm2Signer) -> None:
    signature = signer.sign(b"approved")
    assert not sm2_verify(signer.public_key_hex, b"denied", signature)
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert not sm2_verify(signer.public_key_hex, b"approved", flipped)


def test_sm2_wrong_key_fails(signer: Sm2Signer) -> None:
    signature = signer.sign(b"approved")
    assert not sm2_verify(Sm2Signer.generate().public_key_hex, b"approved", signature)


@pytest.mark.parametrize(
    ("public_key", "signature"),
    [
        ("zz", "00" * 64),
        ("04" + "00" * 64, "00" * 64),  # not on the curve
        ("04" + SM2_PX + SM2_PY, "abcd"),
        ("04" + SM2_PX + SM2_PY, "00" * 64),  # r = s = 0
    ],
)
def test_sm2_malformed_inputs_fail_without_raising(public_key: str, signature: str) -> None:
    assert sm2_verify(public_key, SM2_MSG, signature) is False


@pytest.mark.parametrize(
    "key", ["", "not hex", "0", "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123"]
)
def test_sm2_invalid_private_keys_are_rejected(key: str) -> None:
    with pytest.raises(CryptoError) as info:
        Sm2Signer(key)
    assert info.value.code == "invalid_sm2_private_key"


def test_sm2_sign_is_fast_enough(signer: Sm2Signer) -> None:
    started = time.perf_counter()
    for _ in range(5):
        signer.sign(b"timing")
    assert (time.perf_counter() - started) / 5 < 0.25  # ~20 ms here; generous for slow CI


# --- the persisted system key -------------------------------------------------------------------
def test_system_key_is_created_with_mode_0600_and_reloads(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "system.sm2"
    first = load_or_create_signer(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    signature = first.sign(b"archive manifest")

    again = load_or_create_signer(path)
    assert again.public_key_hex == first.public_key_hex
    assert sm2_verify(again.public_key_hex, b"archive manifest", signature)
    assert again.verify(b"archive manifest", again.sign(b"archive manifest"))
    assert [p.name for p in path.parent.iterdir()] == ["system.sm2"]  # no temporary left


def test_system_key_file_with_loose_mode_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "system.sm2"
    path.write_text(SM2_D + "\n")
    path.chmod(0o644)
    assert load_or_create_signer(path).public_key_hex == ("04" + SM2_PX + SM2_PY).lower()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_corrupt_system_key_file_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "system.sm2"
    path.write_text("garbage")
    with pytest.raises(CryptoError) as info:
        load_or_create_signer(path)
    assert info.value.code == "invalid_key_file"
    assert path.read_text() == "garbage"


def test_sm3_fallback_to_gmalg_gives_the_same_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    import banjian.crypto

    monkeypatch.setattr(banjian.crypto, "_HAS_SM3", False)
    assert sm3_hex(b"abc") == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm4_gcm_matches_rfc_8998_vector() -> None:
    # RFC 8998 appendix A.1 (SM4-GCM): key, IV, AAD, plaintext -> ciphertext || tag
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    iv = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plain = bytes.fromhex("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
                          "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
    cipher = bytes.fromhex("17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
                           "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D")
    tag = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")
    token = b"\x01" + iv + cipher + tag  # the module's token format
    assert sm4_decrypt(key, token, aad) == plain
    with pytest.raises(CryptoError):
        sm4_decrypt(key, token[:-1] + bytes([token[-1] ^ 1]), aad)
