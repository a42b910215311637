"""An auditor holding only the archive package recomputes each record's hash as
docs/archive-manifest.md ("Checking a package", step 3) says, and reaches the manifest's head: the
package carries each record's time exactly as its hash covers it (`chain.json` `hashed_at`)."""
from __future__ import annotations

import io
import json
import uuid
import zipfile

from banjian.crypto import sm3_hex
from tests.test_licences import REGISTRATION, approved

GENESIS = "0" * 64
HASHED = ("case_id", "seq", "actor", "role", "department", "action", "comment", "data")


def recompute(actions: list[dict], records: list[dict]) -> str:
    """The documented rule, from the package alone: SM3(prev_hash || sorted compact JSON)."""
    prev = GENESIS
    for a, r in zip(actions, records, strict=True):
        assert (a["seq"], r["prev_hash"]) == (r["seq"], prev)
        body = {**{k: a[k] for k in HASHED}, "at": r["hashed_at"]}
        content = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        prev = sm3_hex(prev.encode() + content)
        assert prev == r["hash"], f"record {a['seq']} ({a['action']}) does not recompute"
    return prev


async def test_the_packages_hash_chain_recomputes_from_the_package_alone(stack):
    case = await approved(stack, stack.applicant(), REGISTRATION)
    await stack.staff("amr", "clerk").ok(case["id"], "deliver", method="electronic")
    auditor = stack.user(f"auditor-{uuid.uuid4().hex[:6]}", "auditor")
    r = await auditor.get(f"/api/cases/{case['id']}/archive")
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        actions = json.loads(z.read("actions.json"))
        records = json.loads(z.read("chain.json"))["records"]
    assert recompute(actions, records) == manifest["chain"][case["id"]]["head"]
    assert all(r["hashed_at"].endswith("Z") for r in records)
    # and a record whose opinion was changed in the package no longer does
    forged = [dict(a, comment="同意") if a["action"] == "approve" else a for a in actions]
    try:
        recompute(forged, records)
    except AssertionError as e:
        assert "approve" in str(e)
    else:
        raise AssertionError("an altered opinion recomputed")
