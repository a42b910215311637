"""Material files in the archive package keep the type and extension they were uploaded with
(docs/archive-manifest.md `materials/…`), not `application/octet-stream` without an extension."""
from __future__ import annotations

import io
import json
import zipfile

from tests.conftest import application
from tests.histories.record import _through_review
from tests.test_files import JPEG, PDF, PNG, upload

ITEM = "food-business-licence"


async def test_the_package_keeps_each_material_file_type_and_extension(stack, people):
    applicant = stack.applicant()
    uploads = [("营业执照.pdf", PDF, "application/pdf", ".pdf"), ("场所照片.PNG", PNG, "image/png", ".png"),
               ("身份证.jpeg", JPEG, "image/jpeg", ".jpeg")]
    ids = []
    for name, content, _, _ in uploads:
        r = await upload(applicant, name, content)
        assert r.status_code == 201, r.text
        ids.append(r.json()["file_id"])
    body = await application(applicant, ITEM)
    assert len(body["materials"]) >= len(ids)
    for material, file_id in zip(body["materials"], ids, strict=False):
        material["file_id"] = file_id
    case = (await applicant.post("/api/cases", json=body)).json()
    clerk = people.clerk
    case = await clerk.ok(case["id"], "accept")
    case = await _through_review(stack, "amr", case)
    await people.approver.ok(case["id"], "approve")
    await clerk.ok(case["id"], "deliver", method="electronic")

    r = await applicant.get(f"/api/cases/{case['id']}/archive")
    assert r.status_code == 200, r.text
    z = zipfile.ZipFile(io.BytesIO(r.content))
    listed = {f["path"]: f for f in json.loads(z.read("manifest.json"))["files"] if f["path"].startswith("materials/")}
    assert len(listed) == len(uploads)
    for (_, content, media, ext), file_id, material in zip(uploads, ids, body["materials"], strict=False):
        [path] = [p for p in listed if p.startswith(f"materials/{file_id}-")]
        assert path == f"materials/{file_id}-{material['name']}{ext}", path
        assert listed[path]["media_type"] == media and z.read(path) == content
