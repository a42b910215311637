"""The codec server (Temporal's codec-server protocol) for the Temporal Web UI and CLI.

Payloads are encrypted in Temporal (banjian/codec.py); the UI shows them only through
`POST /api/codec/decode`, answered to admins and auditors alone (with the token, or the
session cookie when the UI's "include cross-origin credentials" is on). CORS for the UI's origin
is set up for these paths only, in api/app.py. Every decode by an auditor is logged like any
other read of theirs.
"""
from __future__ import annotations

import binascii
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.deps import CurrentUser, require
from banjian import audit
from banjian.codec import Sm4PayloadCodec, payloads_from_json, payloads_to_json
from banjian.crypto import CryptoError
from banjian.enums import Role
from banjian.errors import Invalid

router = APIRouter(prefix="/api/codec", tags=["codec"])

CODEC_ROLES = (Role.ADMIN, Role.AUDITOR)
MAX_PAYLOADS = 1000


class CodecPayload(BaseModel):
    """One payload in proto3 JSON: metadata values and data in base64."""

    metadata: dict[str, Annotated[str, Field(max_length=4096)]] = Field(default_factory=dict, max_length=64)
    data: str = Field(default="", max_length=16 * 1024 * 1024)


class CodecBody(BaseModel):
    payloads: list[CodecPayload] = Field(default_factory=list, max_length=MAX_PAYLOADS)


def _codec(request: Request) -> Sm4PayloadCodec | None:
    codec = request.app.state.client.data_converter.payload_codec
    return codec if isinstance(codec, Sm4PayloadCodec) else None


def _read(body: CodecBody):
    try:
        return payloads_from_json(body.model_dump())
    except (binascii.Error, ValueError):
        raise Invalid("invalid_payload", "载荷不是有效的 base64", "a payload is not valid base64", "payloads") from None


@router.post("/decode")
async def decode(body: CodecBody, request: Request, actor: CurrentUser) -> dict:
    """Decrypt payloads for the Temporal UI (admin, auditor); plain ones come back unchanged."""
    require(actor, *CODEC_ROLES)
    payloads, codec = _read(body), _codec(request)
    try:
        out = [codec.decode_one(p) for p in payloads] if codec else payloads
    except CryptoError as e:
        raise Invalid(e.code, e.message, e.message_en, "payloads") from None
    audit.log_read(request.app.state.sessions, actor, None, f"codec decode ({len(payloads)} payloads)")
    return payloads_to_json(out)


@router.post("/encode")
async def encode(body: CodecBody, request: Request, actor: CurrentUser) -> dict:
    """Encrypt payloads under the current key (what the UI sends when it signals or starts)."""
    require(actor, *CODEC_ROLES)
    payloads, codec = _read(body), _codec(request)
    return payloads_to_json([codec.encode_one(p) for p in payloads] if codec else payloads)
