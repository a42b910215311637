"""Citizens' data at rest in Temporal: every workflow and activity payload encrypted with SM4-GCM.

`Sm4PayloadCodec` is a Temporal `PayloadCodec`: it turns each payload (already serialised by the
pydantic converter) into one whose data is ``sm4_encrypt(key, payload bytes)`` and whose metadata
names the encoding (`binary/sm4-gcm`) and the key (`encryption-key-id`). The key id is also the
associated data of the GCM tag, so a payload cannot be passed off under another key's name.

Keys rotate: the codec holds several decryption keys (by id) and encrypts with one. A payload
without our encoding (a history recorded before encryption, or written by a plain client) decodes
unchanged, so old histories keep replaying.

Keys come from the settings: `BANJIAN_PAYLOAD_KEYS="k2:<32 hex>,k1:<32 hex>"` and
`BANJIAN_PAYLOAD_KEY_ID=k2` (default: the first listed). Without them, a key ring is generated once
in the data dir (`payload.keys`, mode 0600) — fine for `banjian up` on one machine, refused in
production mode.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import PydanticPayloadConverter
from temporalio.converter import DataConverter, PayloadCodec

from banjian.crypto import CryptoError, sm4_decrypt, sm4_encrypt, sm4_generate_key
from banjian.settings import Settings

ENCODING = b"binary/sm4-gcm"
KEY_ID = "encryption-key-id"
KEY_FILE = "payload.keys"


class Sm4PayloadCodec(PayloadCodec):
    """Encrypts payloads with SM4-GCM under the current key; decrypts with any key of the ring."""

    def __init__(self, keys: Mapping[str, bytes], encrypt_key_id: str) -> None:
        if encrypt_key_id not in keys:
            raise CryptoError("unknown_payload_key", f"加密密钥 {encrypt_key_id} 不在密钥列表中",
                              f"the encryption key {encrypt_key_id} is not among the keys")
        for kid, key in keys.items():
            if not kid or len(key) != 16:
                raise CryptoError("invalid_sm4_key", f"密钥 {kid} 应为16字节", f"key {kid!r} must be 16 bytes")
        self.keys = dict(keys)
        self.key_id = encrypt_key_id

    def encode_one(self, p: Payload) -> Payload:
        """The encrypted form of one payload."""
        kid = self.key_id.encode()
        token = sm4_encrypt(self.keys[self.key_id], p.SerializeToString(), associated_data=kid)
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid}, data=token)

    def decode_one(self, p: Payload) -> Payload:
        """The plain payload; one not encrypted by this codec is returned as it is."""
        if p.metadata.get("encoding") != ENCODING:
            return p
        kid = p.metadata.get(KEY_ID, b"")
        key = self.keys.get(kid.decode(errors="replace"))
        if key is None:
            raise CryptoError("unknown_payload_key", f"没有编号为 {kid.decode(errors='replace')} 的解密密钥",
                              f"no decryption key with id {kid.decode(errors='replace')!r}")
        return Payload.FromString(sm4_decrypt(key, p.data, associated_data=kid))

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encode_one(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decode_one(p) for p in payloads]


# --- keys from the settings ----------------------------------------------------------------------
def parse_keys(text: str) -> dict[str, bytes]:
    """`id:hex,id:hex` → {id: 16-byte key}, in the order given."""
    keys: dict[str, bytes] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        kid, sep, hexkey = part.partition(":")
        try:
            key = bytes.fromhex(hexkey.strip())
        except ValueError:
            key = b""
        if not sep or not kid.strip() or len(key) != 16:
            raise CryptoError("invalid_payload_keys", "BANJIAN_PAYLOAD_KEYS 格式应为 编号:32位十六进制,…",
                              "BANJIAN_PAYLOAD_KEYS must be id:<32 hex chars>[,id:<32 hex chars>…]")
        keys[kid.strip()] = key
    if not keys:
        raise CryptoError("invalid_payload_keys", "BANJIAN_PAYLOAD_KEYS 为空", "BANJIAN_PAYLOAD_KEYS is empty")
    return keys


def generated_key_file(data_dir: Path) -> Path:
    return data_dir / KEY_FILE


def _generated_keys(data_dir: Path) -> str:
    """The data dir's own key ring, made once (0600)."""
    path = generated_key_file(data_dir)
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(f"k1:{sm4_generate_key().hex()}\n")
        path.chmod(0o600)
    return path.read_text().strip()


def rotate_generated_keys(data_dir: Path) -> str:
    """Put a new key first in the data dir's generated ring (the old ones still decrypt); its id."""
    ring = parse_keys(_generated_keys(data_dir))
    n = 1 + max((int(k[1:]) for k in ring if k[:1] == "k" and k[1:].isdigit()), default=0)
    kid = f"k{n}"
    path = generated_key_file(data_dir)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(",".join([f"{kid}:{sm4_generate_key().hex()}", *(f"{k}:{v.hex()}" for k, v in ring.items())]) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return kid


def codec_for(settings: Settings) -> Sm4PayloadCodec:
    """The payload codec the settings describe (configured keys, else the data dir's generated ring)."""
    keys = parse_keys(settings.payload_keys or _generated_keys(settings.data_dir))
    return Sm4PayloadCodec(keys, settings.payload_key_id or next(iter(keys)))


class SharedPydanticPayloadConverter(PydanticPayloadConverter):
    """The SDK's pydantic payload converter, built once per process. The SDK makes a data converter
    for every workflow activation and for every command of another serialisation context, and each
    made a payload converter of its own: new JSON converters and an empty type-adapter cache every
    time (about 5 % of a worker's interpreter time under load, docs/benchmarks.md). Every instance
    after the first shares the first one's converters, which hold no per-call state (the type-adapter
    cache is a thread-safe `functools.lru_cache`); each instance still has its own mapping, so the
    SDK's `with_context` (which sets converters on a fresh instance) changes no other."""

    _first: SharedPydanticPayloadConverter | None = None

    def __init__(self) -> None:
        first = SharedPydanticPayloadConverter._first
        if first is None:
            super().__init__()
            SharedPydanticPayloadConverter._first = self
        else:
            self.__dict__.update(first.__dict__)


def converter_with(codec: PayloadCodec | None) -> DataConverter:
    """The pydantic data converter, with `codec` applied to every payload."""
    return DataConverter(payload_converter_class=SharedPydanticPayloadConverter, payload_codec=codec)


def data_converter(settings: Settings) -> DataConverter:
    """What every client, worker and replayer of this system uses."""
    return converter_with(codec_for(settings))


# --- whole histories and the codec server -----------------------------------------------------------
_HOLDS_PAYLOADS: dict[str, bool] = {}


def _holds_payloads(desc: Any) -> bool:
    """Whether messages of this type can contain a Payload at any depth (cached per type: most of an
    event's fields, timestamps, task queues and ids, hold none and are not walked)."""
    name = desc.full_name
    found = _HOLDS_PAYLOADS.get(name)
    if found is None:
        _HOLDS_PAYLOADS[name] = True  # meanwhile (a recursive type): walked, never wrongly skipped
        found = name == Payload.DESCRIPTOR.full_name or any(
            fd.message_type is not None and _holds_payloads(fd.message_type) for fd in desc.fields)
        _HOLDS_PAYLOADS[name] = found
    return found


def _visit_payloads(msg: Message, fn) -> None:
    """Apply `fn` to every Payload inside a protobuf message, in place (a generic walk of the fields
    whose types can hold one)."""
    if isinstance(msg, Payload):
        msg.CopyFrom(fn(msg))
        return
    for fd, value in msg.ListFields():
        if fd.message_type is None or not _holds_payloads(fd.message_type):
            continue
        if fd.message_type.GetOptions().map_entry:
            if fd.message_type.fields_by_name["value"].message_type is not None:
                for v in value.values():
                    _visit_payloads(v, fn)
        elif isinstance(value, Message):
            _visit_payloads(value, fn)
        else:  # a repeated message field
            for v in value:
                _visit_payloads(v, fn)


def decode_history(history: WorkflowHistory, codec: PayloadCodec | None) -> WorkflowHistory:
    """A copy of `history` with every payload decrypted (plain ones unchanged)."""
    if not isinstance(codec, Sm4PayloadCodec):
        return history
    events = []
    for e in history.events:
        copy = type(e)()
        copy.CopyFrom(e)
        _visit_payloads(copy, codec.decode_one)
        events.append(copy)
    return WorkflowHistory(history.workflow_id, events)


def _b64(text: str) -> bytes:
    """proto3 JSON bytes: standard or URL-safe base64, padded or not; anything else is a ValueError
    (`b64decode` alone drops characters outside the alphabet: "!!!!" read as no bytes at all)."""
    text = text.strip().replace("-", "+").replace("_", "/")
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def payloads_from_json(body: Mapping[str, Any]) -> list[Payload]:
    """The Temporal codec-server body `{"payloads": [{"metadata": {k: b64}, "data": b64}]}`."""
    out = []
    for p in body.get("payloads") or []:
        meta = {k: _b64(v) for k, v in (p.get("metadata") or {}).items()}
        out.append(Payload(metadata=meta, data=_b64(p.get("data") or "")))
    return out


def payloads_to_json(payloads: Sequence[Payload]) -> dict[str, Any]:
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in p.metadata.items()},
                          "data": base64.b64encode(p.data).decode()} for p in payloads]}

