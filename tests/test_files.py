"""Files API: accepted types by content and name, size limits, access per role, ownership in an
application, and supplements that add versions instead of replacing files."""
from __future__ import annotations

import io
import zipfile

import pytest
from sqlmodel import select

from banjian.crypto import sm3_hex
from banjian.db import Case
from banjian.files import MAX_FILE_BYTES, file_name
from tests.conftest import application

ITEM = "food-business-licence"  # amr
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32)


def ofd(with_root: bool = True) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("OFD.xml" if with_root else "other.xml", "<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'/>")
    return buf.getvalue()


async def upload(user, name: str, content: bytes, media: str = "application/octet-stream"):
    return await user.stack.http.post("/api/files", headers=await user.headers(),
                                      files={"file": (name, content, media)})


async def test_upload_records_sm3_size_and_type_and_returns_the_bytes(stack, people):
    u = people.applicant(0)
    r = await upload(u, "营业执照.pdf", PDF)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sm3"] == sm3_hex(PDF) and body["size"] == len(PDF)
    assert body["media_type"] == "application/pdf" and body["name"] == "营业执照.pdf"
    got = await u.get(f"/api/files/{body['file_id']}")
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    for name, content, media in (("photo.png", PNG, "image/png"), ("photo.JPG", JPEG, "image/jpeg"),
                                 ("licence.ofd", ofd(), "application/ofd")):
        r = await upload(u, name, content)
        assert r.status_code == 201, (name, r.text)
        assert r.json()["media_type"] == media


async def test_only_pdf_jpeg_png_ofd_by_name_and_content(stack, people):
    u = people.applicant(0)
    for name, content in (("notes.txt", b"hello"), ("fake.pdf", PNG), ("fake.png", PDF),
                          ("program.exe", b"MZ" + bytes(64)), ("not-an.ofd", ofd(with_root=False)),
                          ("noext", PDF)):
        r = await upload(u, name, content)
        assert r.status_code == 415, (name, r.text)
        assert r.json()["detail"]["field"] == "file"


async def test_empty_file_is_422(stack, people):
    r = await upload(people.applicant(0), "empty.pdf", b"")
    assert r.status_code == 422 and r.json()["detail"]["code"] == "invalid_upload"


async def test_a_file_is_kept_under_its_last_path_component_with_its_extension(stack, people):
    u = people.applicant(0)
    for sent, kept in (("../../../etc/passwd.pdf", "passwd.pdf"), ("C:\\fakepath\\营业执照.pdf", "营业执照.pdf"),
                       ("长" * 400 + ".pdf", "长" * 251 + ".pdf")):
        r = await upload(u, sent, PDF)
        assert r.status_code == 201, r.text
        assert r.json()["name"] == kept


def test_a_file_name_loses_control_characters():
    assert file_name("a\x07b\x1b\n.pdf") == "ab.pdf" and file_name("dir/") == ""


async def test_oversize_is_413_by_length_and_while_streaming(stack, people):
    u = people.applicant(0)
    big = b"%PDF-1.4\n" + bytes(MAX_FILE_BYTES)
    r = await upload(u, "big.pdf", big)
    assert r.status_code == 413 and r.json()["detail"]["code"] == "file_too_large"

    # no Content-Length: refused once the 20 MiB are passed, the rest is never read
    boundary = "b0undary"
    sent = 0

    async def body():
        nonlocal sent
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n"
               "Content-Type: application/pdf\r\n\r\n%PDF-1.4\n").encode()
        chunk = bytes(1024 * 1024)
        for _ in range(40):
            sent += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    r = await stack.http.post("/api/files", content=body(), headers={
        **await u.headers(), "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413
    assert sent <= MAX_FILE_BYTES + 2 * 1024 * 1024
    assert not any((stack.settings.data_dir / "files" / ".incoming").iterdir())  # nothing half-written


async def test_exactly_20_mib_is_accepted(stack, people):
    content = b"%PDF-1.4\n" + bytes(MAX_FILE_BYTES - 9)
    r = await upload(people.applicant(0), "max.pdf", content)
    assert r.status_code == 201 and r.json()["size"] == MAX_FILE_BYTES


async def test_file_access_per_role(stack, people):
    owner, other = people.applicant(0), people.applicant(1)
    auditor = stack.user("files-auditor", "auditor")
    admin = people.admin
    supervisor = stack.user("files-supervisor", "supervisor")
    clerk, fire = people.clerk, people.staff("fire", "clerk")
    file_id = (await upload(owner, "营业执照.pdf", PDF)).json()["file_id"]
    url = f"/api/files/{file_id}"

    assert (await owner.get(url)).status_code == 200
    assert (await auditor.get(url)).status_code == 200
    assert (await admin.get(url)).status_code == 200
    for nobody in (other, supervisor, clerk, fire):
        r = await nobody.get(url)
        assert r.status_code == 404, nobody.username
        assert r.json()["detail"]["code"] == "file_not_found"
    assert (await stack.http.get(url)).status_code == 401

    # once an amr case uses it, amr's staff read it; other departments still do not
    body = await application(owner, ITEM)
    body["materials"] = [{**m, "file_id": file_id} if m["name"] == "营业执照" else m for m in body["materials"]]
    r = await owner.post("/api/cases", json=body)
    assert r.status_code == 201, r.text
    assert (await clerk.get(url)).status_code == 200
    assert (await people.handler.get(url)).status_code == 200
    assert (await fire.get(url)).status_code == 404
    assert (await other.get(url)).status_code == 404
    assert (await owner.get("/api/files/../../etc/passwd")).status_code == 404


async def test_an_application_with_someone_elses_file_is_404_and_files_nothing(stack, people):
    owner, thief = people.applicant(0), stack.applicant()
    file_id = (await upload(owner, "营业执照.pdf", PDF)).json()["file_id"]
    for fid in (file_id, "0123456789abcdef0123456789abcdef"):
        body = await application(thief, ITEM)
        body["materials"] = [{**m, "file_id": fid} if m["name"] == "营业执照" else m for m in body["materials"]]
        r = await thief.post("/api/cases", json=body)
        assert r.status_code == 404, r.text
        assert r.json()["detail"]["field"].endswith(".file_id")
    with stack.sessions() as s:
        assert s.exec(select(Case).where(Case.applicant_username == thief.username)).all() == []


async def test_a_supplement_adds_a_version_and_keeps_the_first(stack, people):
    applicant, clerk = stack.applicant(), people.clerk
    first = (await upload(applicant, "营业执照.pdf", PDF)).json()["file_id"]
    body = await application(applicant, ITEM)
    body["materials"] = [{**m, "file_id": first} if m["name"] == "营业执照" else m for m in body["materials"]]
    case = (await applicant.post("/api/cases", json=body)).json()
    v1 = next(m for m in case["materials"] if m["name"] == "营业执照")
    assert v1["version"] == 1 and v1["added_by"] == applicant.username and v1["added_at"].endswith("+08:00")

    await clerk.ok(case["id"], "request_supplement", missing=["营业执照"])
    second = (await upload(applicant, "营业执照-清晰版.png", PNG)).json()["file_id"]
    someone_elses = (await upload(people.applicant(1), "x.pdf", PDF)).json()["file_id"]
    r = await applicant.act(case["id"], "submit_supplement", materials=[{"name": "营业执照", "file_id": someone_elses}])
    assert r.status_code == 404, r.text
    case = await applicant.ok(case["id"], "submit_supplement", materials=[{"name": "营业执照", "file_id": second}])
    versions = [m for m in case["materials"] if m["name"] == "营业执照"]
    assert [(m["version"], m["file_id"]) for m in versions] == [(1, first), (2, second)]
    assert versions[1]["added_by"] == applicant.username
    # the first file is still there and still readable by the department
    assert (await clerk.get(f"/api/files/{first}")).content == PDF
    again = await clerk.case(case["id"])
    assert [m["version"] for m in again["materials"] if m["name"] == "营业执照"] == [1, 2]


@pytest.mark.postgres
async def test_a_department_reads_a_file_its_case_uses_on_postgres(pg_stack):
    owner, clerk = pg_stack.applicant(), pg_stack.staff("amr", "clerk")
    fire = pg_stack.staff("fire", "clerk")
    file_id = (await upload(owner, "营业执照.pdf", PDF)).json()["file_id"]
    assert (await clerk.get(f"/api/files/{file_id}")).status_code == 404
    body = await application(owner, ITEM)
    body["materials"] = [{**m, "file_id": file_id} if m["name"] == "营业执照" else m for m in body["materials"]]
    assert (await owner.post("/api/cases", json=body)).status_code == 201
    assert (await clerk.get(f"/api/files/{file_id}")).content == PDF
    assert (await fire.get(f"/api/files/{file_id}")).status_code == 404
