"""Citizens' data at rest: the SM4 payload codec, its key rotation, the codec server for the
Temporal UI, and what actually lands in Temporal's store."""
from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from banjian import audit
from banjian.codec import (
    ENCODING,
    KEY_ID,
    SharedPydanticPayloadConverter,
    Sm4PayloadCodec,
    codec_for,
    converter_with,
    decode_history,
    parse_keys,
    payloads_from_json,
    payloads_to_json,
)
from banjian.contracts import Applicant
from banjian.crypto import CryptoError
from banjian.settings import Settings
from banjian.temporal import DevServer, connect
from services import replay
from tests.conftest import TEST_CONVERTER, TEST_PAYLOAD_KEYS, make_stack
from tests.feed_receiver import free_port

K1, K2 = bytes(range(16)), bytes(range(16, 32))
ID_NUMBER = "11010519491231002X"


def plain(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(text).encode())


# ---- the codec ---------------------------------------------------------------------------------------
async def test_payload_is_encrypted_with_the_key_id_in_its_metadata():
    codec = Sm4PayloadCodec({"k1": K1}, "k1")
    p = plain(f"申请人 {ID_NUMBER}")
    [enc] = await codec.encode([p])
    assert enc.metadata["encoding"] == ENCODING and enc.metadata[KEY_ID] == b"k1"
    assert ID_NUMBER.encode() not in enc.data and "申请人".encode() not in enc.data
    [enc2] = await codec.encode([p])
    assert enc2.data != enc.data  # a fresh nonce each time
    assert await codec.decode([enc, enc2]) == [p, p]


async def test_keys_rotate_old_payloads_still_decode():
    old = Sm4PayloadCodec({"k1": K1}, "k1")
    [before] = await old.encode([plain("before")])
    rotated = Sm4PayloadCodec({"k2": K2, "k1": K1}, "k2")
    [after] = await rotated.encode([plain("after")])
    assert after.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([before, after]) == [plain("before"), plain("after")]
    with pytest.raises(CryptoError) as e:  # the old ring cannot read the new key's payloads
        await old.decode([after])
    assert e.value.code == "unknown_payload_key"


async def test_a_payload_relabelled_with_another_key_id_or_altered_fails():
    codec = Sm4PayloadCodec({"k1": K1, "k2": K1}, "k1")  # the same key bytes under two ids
    [enc] = await codec.encode([plain("x")])
    relabelled = Payload(metadata={"encoding": ENCODING, KEY_ID: b"k2"}, data=enc.data)
    with pytest.raises(CryptoError):  # the key id is authenticated (GCM associated data)
        await codec.decode([relabelled])
    altered = Payload(metadata=dict(enc.metadata), data=enc.data[:-1] + bytes([enc.data[-1] ^ 1]))
    with pytest.raises(CryptoError):
        await codec.decode([altered])


async def test_plain_payloads_from_before_encryption_decode_unchanged():
    codec = Sm4PayloadCodec({"k1": K1}, "k1")
    p = plain("recorded before encryption")
    assert await codec.decode([p]) == [p]


def test_key_settings_are_parsed_and_bad_ones_refused(tmp_path: Path):
    keys = parse_keys(f"new:{K2.hex()}, old:{K1.hex()}")
    assert list(keys) == ["new", "old"] and keys["old"] == K1
    for bad in ("", "nokey", f":{K1.hex()}", "k:abcd", "k:" + "zz" * 16):
        with pytest.raises(CryptoError):
            parse_keys(bad)
    s = Settings(data_dir=tmp_path, payload_keys=f"new:{K2.hex()},old:{K1.hex()}", payload_key_id="old")
    assert codec_for(s).key_id == "old"
    with pytest.raises(CryptoError):
        codec_for(Settings(data_dir=tmp_path, payload_keys=f"new:{K2.hex()}", payload_key_id="gone"))


def test_without_keys_a_ring_is_generated_once_in_the_data_dir_0600(tmp_path: Path):
    a = codec_for(Settings(data_dir=tmp_path))
    b = codec_for(Settings(data_dir=tmp_path))
    assert a.keys == b.keys and a.key_id == "k1"
    assert (tmp_path / "payload.keys").stat().st_mode & 0o777 == 0o600


async def test_pydantic_models_round_trip_through_the_converter():
    value = Applicant(kind="citizen", id_number=ID_NUMBER, name="张三")
    [enc] = await TEST_CONVERTER.encode([value])
    assert ID_NUMBER.encode() not in enc.SerializeToString()
    assert await TEST_CONVERTER.decode([enc], [Applicant]) == [value]


def test_the_payload_converter_is_built_once_and_shared_by_every_data_converter():
    """The SDK makes a data converter per workflow activation: they share one set of converters (and
    one type-adapter cache) instead of building them again, and a fresh instance given converters
    of its own (what the SDK's `with_context` does) changes no other."""
    import dataclasses

    dc = converter_with(None)
    again = dataclasses.replace(dc)  # as the SDK does per activation
    inner = [c.payload_converter._inner_payload_converter for c in (dc, again)]  # type: ignore[attr-defined]
    assert all(isinstance(c, SharedPydanticPayloadConverter) for c in inner)
    assert inner[0] is not inner[1] and inner[0].converters is inner[1].converters
    json_converter = inner[0].converters[b"json/plain"]
    json_converter.from_payload(plain("x"), str)
    hits = json_converter._type_adapter.cache_info().hits  # type: ignore[attr-defined]
    inner[1].converters[b"json/plain"].from_payload(plain("y"), str)  # the same cache, already holding str
    assert json_converter._type_adapter.cache_info().hits == hits + 1  # type: ignore[attr-defined]
    fresh = SharedPydanticPayloadConverter()
    fresh._set_converters(*list(fresh.converters.values())[:1])
    assert len(SharedPydanticPayloadConverter().converters) == len(inner[0].converters) > 1


# ---- the codec server ----------------------------------------------------------------------------------
async def test_codec_server_decodes_for_admins_and_auditors_only(stack, people):
    [enc] = await TEST_CONVERTER.encode([f"身份证 {ID_NUMBER}"])
    body = payloads_to_json([enc])
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    for user in (people.admin, auditor):
        r = await user.post("/api/codec/decode", json=body)
        assert r.status_code == 200, r.text
        [back] = await pydantic_data_converter.decode(payloads_from_json(r.json()), [str])
        assert back == f"身份证 {ID_NUMBER}"
    for user in (people.clerk, people.applicant(), people.staff("amr", "approver")):
        r = await user.post("/api/codec/decode", json=body)
        assert r.status_code == 403 and ID_NUMBER not in r.text
    r = await stack.http.post("/api/codec/decode", json=body)
    assert r.status_code == 401 and ID_NUMBER not in r.text
    # encode then decode round trip, and garbage is a 422
    r = await people.admin.post("/api/codec/encode", json=payloads_to_json([plain("x")]))
    assert r.status_code == 200 and r.json()["payloads"][0]["metadata"]["encoding"] == "YmluYXJ5L3NtNC1nY20="
    assert (await people.admin.post("/api/codec/decode", json=r.json())).json() == payloads_to_json([plain("x")])
    bad = {"payloads": [{"metadata": {"encoding": "YmluYXJ5L3NtNC1nY20=", KEY_ID: "dGVzdDI="}, "data": "AAAA"}]}
    r = await people.admin.post("/api/codec/decode", json=bad)
    assert r.status_code == 422 and r.json()["detail"]["code"] == "sm4_decrypt_failed"


async def test_codec_server_allows_the_temporal_ui_origin_with_credentials(stack, people):
    ui = f"http://127.0.0.1:{stack.settings.temporal_ui_port}"
    pre = await stack.http.options("/api/codec/decode", headers={
        "Origin": ui, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == ui
    assert pre.headers["access-control-allow-credentials"] == "true"
    other = await stack.http.options("/api/codec/decode", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    # the rest of the API is not opened to the UI's origin
    r = await stack.http.get("/api/health", headers={"Origin": ui})
    assert "access-control-allow-origin" not in r.headers
    # the UI's "include cross-origin credentials" sends the session cookie
    token = await people.admin.token()
    [enc] = await TEST_CONVERTER.encode(["x"])
    r = await stack.http.post("/api/codec/decode", json=payloads_to_json([enc]),
                              headers={"Origin": ui, "Cookie": f"banjian_token={token}"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ui


# ---- what Temporal stores --------------------------------------------------------------------------------
async def test_a_case_history_in_temporal_is_encrypted_and_still_replays(stack, people):
    applicant = people.applicant(7)
    me = (await applicant.get("/api/me")).json()
    case = (await applicant.apply("food-business-licence")).json()
    await people.clerk.ok(case["id"], "accept")
    raw = await stack.client.get_workflow_handle(f"case-{case['id']}").fetch_history()
    text = raw.to_json()
    assert me["id_number"] not in text and me["display_name"] not in text
    decoded = decode_history(raw, stack.client.data_converter.payload_codec)
    source = audit.read_history(case["id"], decoded)
    assert not source.problems and source.case_input.applicant.id_number == me["id_number"]
    report = await replay.replay_history(case["id"], raw, converter=TEST_CONVERTER)  # encrypted, through the codec
    assert report.verified, report.error
    assert (await replay.replay_history(case["id"], decoded)).verified  # decrypted, plain converter


async def test_id_numbers_are_not_in_the_temporal_database_file(tmp_path: Path):
    """A case run through the embedded server (a SQLite file, as `banjian up` runs it): the applicant's
    id number and name are nowhere in the file, while a plain client's payload is (the search works)."""
    port = free_port(17300, 17399)
    settings = Settings(data_dir=tmp_path / "t", temporal_port=port, ui_port=free_port(port + 1, port + 100),
                        payload_keys=TEST_PAYLOAD_KEYS)
    server = DevServer(settings)
    cmd = server.command()  # the embedded UI decodes through the API's codec server
    assert cmd[cmd.index("--ui-codec-endpoint") + 1] == f"http://127.0.0.1:{settings.port}/api/codec"
    server.start()
    marker = "PLAINTEXT-MARKER-" + uuid.uuid4().hex
    try:
        client = await server.wait_ready()
        (tmp_path / "s").mkdir()
        async for st in make_stack(None, client, tmp_path / "s", None):  # type: ignore[arg-type]
            applicant = st.applicant()
            me = (await applicant.get("/api/me")).json()
            case = (await applicant.apply("food-business-licence")).json()
            assert case["applicant"]["id_number"] == me["id_number"]
            clerk = st.staff("amr", "clerk")
            await clerk.ok(case["id"], "accept", "材料齐全")
        plain_client = await Client.connect(settings.temporal_target, data_converter=pydantic_data_converter)
        await plain_client.start_workflow("NoSuchWorkflow", marker, id=f"plain-{marker}", task_queue="nobody")
        assert (await connect(settings)).data_converter.payload_codec is not None
    finally:
        server.stop()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "t").glob("temporal.db*"))
    assert len(stored) > 100_000
    assert marker.encode() in stored  # the control: plain payloads are found by this search
    assert me["id_number"].encode() not in stored
    assert me["display_name"].encode() not in stored


def test_the_data_dir_is_private(tmp_path: Path):
    from typer.testing import CliRunner

    from services.cli import app as cli_app

    data = tmp_path / "d"
    data.mkdir(mode=0o755)
    (data / "banjian.db").write_bytes(b"")
    (data / "banjian.db").chmod(0o644)
    (data / "archives").mkdir(mode=0o755)
    r = CliRunner().invoke(cli_app, ["users", "add", "owner1", "--password", "long-enough-1", "--role", "auditor",
                                     "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert data.stat().st_mode & 0o777 == 0o700
    assert (data / "banjian.db").stat().st_mode & 0o777 == 0o600
    assert (data / "archives").stat().st_mode & 0o777 == 0o700


def test_codec_bodies_take_standard_and_url_safe_base64_and_refuse_anything_else():
    from banjian.codec import payloads_from_json

    raw = bytes(range(250, 256)) + b"\xfb\xff"
    std, url = base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode().rstrip("=")
    for text in (std, url):
        assert payloads_from_json({"payloads": [{"metadata": {"k": text}, "data": text}]})[0].data == raw
    for bad in ("!!!!", "abc$", "a"):  # once read as no bytes, or a few, without a word
        with pytest.raises(ValueError):
            payloads_from_json({"payloads": [{"data": bad}]})
