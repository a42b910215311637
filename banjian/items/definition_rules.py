"""Cross-field rules of a definition's content: limits, texts, channels and fees, lists, department
codes, credit codes, and the e-licence the item issues.

Conventions:

* promised > statutory is reported at ``promised_limit``: the statutory limit comes from law,
  the promised one is what the department chose and must fix.
* An item issues a licence when `result.licence_type` or the `licence` section is set. Its issuer
  is `licence.issuer`, else the implementing body; the issuer needs a unified social credit code
  (the licence identifier of GB/T 36904 carries it): without one, ``licence_issuer_missing``.
* Face data (照面信息) is filled from the case: ``form.<name>`` must name a field of the form
  (``face_data_unknown_field``); ``applicant.`` and ``case.`` take the listed attributes only.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from banjian.ids import IdError, validate_credit_code
from banjian.items.problems import Collector, exceeds, fmt_en, fmt_zh
from banjian.items.schema import ItemDefinition
from banjian.zh_quotes import quoted

#: Attributes a face-data field may take besides the form (see `FaceField.source`).
FACE_SOURCES = {"applicant": {"name", "id_number", "kind"}, "case": {"case_no", "decided_at"}}


def _check_unique(
    out: Collector, names: list[str], prefix: str, field: str, code: str, what_zh: str, what_en: str
) -> None:
    """Report every repeated name (at the later occurrence)."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            out.add(
                f"{prefix}[{i}].{field}",
                code,
                f"{what_zh} {name!r} 重复",
                f"{what_en} {name!r} is used twice",
            )
        seen.add(name)


def check_limits(out: Collector, d: ItemDefinition) -> None:
    if exceeds(d.promised_limit, d.statutory_limit):
        out.add(
            "promised_limit",
            "promised_exceeds_statutory",
            f"承诺办结时限 {fmt_zh(d.promised_limit)} 超过法定办结时限 {fmt_zh(d.statutory_limit)}",
            f"promised limit of {fmt_en(d.promised_limit)} exceeds the statutory limit of {fmt_en(d.statutory_limit)}",
        )
    if d.case_type == "immediate" and d.promised_limit.value != 0:
        out.add(
            "promised_limit",
            "immediate_promised_nonzero",
            "即办件的承诺办结时限应为 0（当场办结）",
            "an immediate item (即办件) must have a promised limit of 0",
        )
    if d.case_type == "promised" and d.promised_limit.value == 0:
        out.add(
            "promised_limit",
            "promised_limit_zero",
            "承诺件的承诺办结时限至少为 1 天；当场办结的事项应设为即办件（case_type: immediate）",
            "a promised item needs a promised limit of at least 1 day; use case_type: immediate for on-the-spot items",
        )
    if d.effective_from and d.effective_to and d.effective_to <= d.effective_from:
        out.add(
            "effective_to",
            "effective_range",
            f"失效日期 {d.effective_to} 应晚于生效日期 {d.effective_from}",
            f"effective_to {d.effective_to} must be after effective_from {d.effective_from}",
        )


def check_texts(out: Collector, d: ItemDefinition) -> None:
    for i, basis in enumerate(d.legal_basis):
        if not basis.strip():
            out.add(
                f"legal_basis[{i}]",
                "empty_legal_basis",
                "设定依据不能为空",
                "a legal basis entry must not be empty",
            )
    if not d.service_object:
        out.add(
            "service_object", "service_object_empty", "服务对象不能为空", "service_object must not be empty"
        )
    for path, text in _named_texts(d):
        if not text.strip():
            out.add(path, "blank_text", "不能只填空白字符：申请人和工作人员看到的是这段文字",
                    "must not be blank: applicants and staff read this text")
        elif len(text) > MAX_NAME:
            out.add(path, "text_too_long", f"名称不能超过 {MAX_NAME} 个字符（实际为 {len(text)} 个）；说明性文字请写在备注等字段",
                    f"a name must have at most {MAX_NAME} characters (has {len(text)})")
    check_text_sizes(out, d)


#: The longest name or label (a step's, a material's, a form field's, ...): it sits in a table cell,
#: a form label and the case history. Any other text (a legal basis, a note, an answer): MAX_TEXT.
MAX_NAME, MAX_TEXT = 200, 4000
#: The most entries of any list in a definition (materials, steps, form fields, choices, ...).
MAX_ENTRIES = 200
#: Invisible characters that change or hide what a text says: bidirectional embeddings, overrides and
#: isolates, the zero-width space and the byte-order mark (besides every control character but tab,
#: newline and carriage return). Joiners and direction marks, which right-to-left scripts need, pass.
HIDDEN_CHARACTERS = set("\u200b\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff")


def _strings_and_lists(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every text and every list of a definition as JSON, with its path (``materials[3].note``)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings_and_lists(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        yield path, value
        for i, item in enumerate(value):
            yield from _strings_and_lists(item, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value


def _hidden(text: str) -> str | None:
    """The first invisible or control character of a text (tab, newline and carriage return pass)."""
    for ch in text:
        if ch in HIDDEN_CHARACTERS or (unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"):
            return ch
    return None


def check_text_sizes(out: Collector, d: ItemDefinition) -> None:
    """Bounds of every text and list (a paste of a whole document into one name, thousands of
    materials) and no invisible control characters (a right-to-left override that reverses what a
    name shows, a NUL that some databases refuse)."""
    for path, value in _strings_and_lists(d.model_dump(mode="json")):
        if isinstance(value, list):
            if len(value) > MAX_ENTRIES:
                out.add(path, "too_many_entries", f"最多 {MAX_ENTRIES} 项（实际为 {len(value)} 项）",
                        f"must have at most {MAX_ENTRIES} entries (has {len(value)})")
            continue
        if len(value) > MAX_TEXT:
            out.add(path, "text_too_long", f"不能超过 {MAX_TEXT} 个字符（实际为 {len(value)} 个）",
                    f"must have at most {MAX_TEXT} characters (has {len(value)})")
        ch = _hidden(value)
        if ch is not None:
            out.add(path, "control_character",
                    f"含有不可见的控制字符 U+{ord(ch):04X}（多由复制粘贴带入），请删除后再保存",
                    f"contains the invisible control character U+{ord(ch):04X} (often pasted in); remove it")


def _named_texts(d: ItemDefinition) -> list[tuple[str, str]]:
    """Every text people see as a name or label (a blank one leaves a form field or a step unnamed)."""
    texts = [("name", d.name), ("result.name", d.result.name)]
    texts += [(f"steps[{i}].name", s.name) for i, s in enumerate(d.steps)]
    texts += [(f"participants[{p}].steps[{i}].name", s.name)
              for p, part in enumerate(d.participants) for i, s in enumerate(part.steps)]
    texts += [(f"materials[{i}].name", m.name) for i, m in enumerate(d.materials)]
    texts += [(f"form[{i}].label", f.label) for i, f in enumerate(d.form)]
    texts += [(f"form[{i}].choices[{j}]", c) for i, f in enumerate(d.form) for j, c in enumerate(f.choices or [])]
    texts += [(f"special_procedures[{i}].name", p.name) for i, p in enumerate(d.special_procedures)]
    texts += [(f"fees.items[{i}].name", f.name) for i, f in enumerate(d.fees.items)]
    return texts


def check_channels_and_fees(out: Collector, d: ItemDefinition) -> None:
    ch = d.channels
    if ch.fully_online and ch.site_visits > 0:
        out.add(
            "channels.site_visits",
            "fully_online_site_visits",
            f"全程网办事项的到办事现场次数应为 0（当前为 {ch.site_visits}）",
            f"a fully online item must have 0 site visits (has {ch.site_visits})",
        )
    if ch.fully_online and not (ch.web or ch.mobile):
        out.add(
            "channels.fully_online",
            "fully_online_without_online_channel",
            "全程网办事项须开通网上（web）或移动端（mobile）渠道",
            "a fully online item needs the web or mobile channel",
        )
    # Only a definition that states its site visits must say why: the schema's default of one
    # visit (when `channels.site_visits` is left out) is an assumption, not the author's claim.
    stated = "channels" in d.model_fields_set and "site_visits" in ch.model_fields_set
    if stated and ch.site_visits > 0 and not (ch.site_visit_reason or "").strip():
        out.add(
            "channels.site_visit_reason",
            "site_visit_reason_missing",
            "到办事现场次数大于 0 时须说明到现场的理由",
            "site visits > 0 require a site_visit_reason",
        )
    if not (ch.window or ch.web or ch.mobile or ch.post):
        out.add(
            "channels",
            "no_channel",
            "至少需要开通一种办理渠道",
            "at least one channel (window, web, mobile, post) is needed",
        )
    if d.fees.charged and not d.fees.items:
        out.add(
            "fees.items",
            "fee_items_missing",
            "收费事项须列明收费项目及标准",
            "a charged item must list its fee items",
        )
    if not d.fees.charged and d.fees.items:
        out.add(
            "fees.items",
            "fee_items_unexpected",
            "不收费事项不应列出收费项目（或将 charged 设为 true）",
            "an item that charges nothing must list no fee items (or set charged: true)",
        )


def check_materials(out: Collector, d: ItemDefinition) -> None:
    """Material names are unique (an application, a supplement notice and a supplement name them)."""
    _check_unique(out, [m.name for m in d.materials], "materials", "name", "duplicate_material", "材料名称",
                  "material name")


def check_special_procedures(out: Collector, d: ItemDefinition) -> None:
    """Special procedure kinds are unique."""
    _check_unique(out, [p.kind for p in d.special_procedures], "special_procedures", "kind",
                  "duplicate_special_procedure", "特别程序类型", "special procedure kind")


def check_form_fields(out: Collector, d: ItemDefinition) -> None:
    """Form field names and labels are unique; a choice field lists its choices, once each, and only it does."""
    _check_unique(
        out, [f.name for f in d.form], "form", "name", "duplicate_form_field", "表单字段名", "form field name"
    )
    labels: dict[str, int] = {}
    for i, field in enumerate(d.form):
        # an applicant (and a reviewer reading the case) tells fields apart by their labels only
        shown = " ".join(field.label.split()).rstrip("：:")
        if shown in labels:
            first = d.form[labels[shown]].name
            out.add(f"form[{i}].label", "duplicate_form_label",
                    f"表单字段 {field.name!r} 的标签“{shown}”与字段 {first!r} 相同：申请人和审查人员无法区分，请改用不同的标签",
                    f"form field {field.name!r} has the label {shown!r} of field {first!r}: applicants and "
                    "reviewers could not tell them apart; give each field its own label")
        elif shown:
            labels[shown] = i
    for i, field in enumerate(d.form):
        here = f"form[{i}].choices"
        if field.type == "choice" and not field.choices:
            out.add(
                here,
                "choices_missing",
                f"选择型字段 {field.name!r} 须列出可选项",
                f"choice field {field.name!r} needs choices",
            )
        elif field.type != "choice" and field.choices is not None:
            out.add(
                here,
                "choices_not_allowed",
                f"字段 {field.name!r} 不是选择型（{field.type}），不应有可选项",
                f"field {field.name!r} is of type {field.type!r} and must not have choices",
            )
        elif field.choices and len(set(field.choices)) != len(field.choices):
            out.add(
                here,
                "duplicate_choice",
                f"字段 {field.name!r} 的可选项重复",
                f"field {field.name!r} has repeated choices",
            )


#: The list rules one by one: an invalid section (say a step's role) skips only the rules that read
#: it, so a repeated material is still reported beside it (validate.cross_field_problems, partial).
LIST_RULES = (check_materials, check_form_fields, check_special_procedures)


def check_departments(out: Collector, d: ItemDefinition, known: Collection[str] | None) -> None:
    if known is None:
        return

    def check(path: str, code: str) -> None:
        if code not in known:
            out.add(
                path, "unknown_department", f"部门编码 {code!r} 不存在", f"unknown department code {code!r}"
            )

    check("department", d.department)
    for i, code in enumerate(d.co_departments):
        check(f"co_departments[{i}]", code)
    for i, part in enumerate(d.participants):
        check(f"participants[{i}].department", part.department)


def check_credit_codes(out: Collector, d: ItemDefinition) -> None:
    """Unified social credit codes of the implementing and entrusted bodies (GB 32100, `banjian.ids`)."""
    for path, body in (("implementing_body", d.implementing_body), ("entrusted_body", d.entrusted_body)):
        if body is None or body.credit_code is None:
            continue
        try:
            validate_credit_code(body.credit_code)
        except IdError as exc:
            out.add(f"{path}.credit_code", exc.code, exc.message, exc.message_en)



def check_licence(out: Collector, d: ItemDefinition) -> None:
    """The licence the item issues: a type that agrees with the result, an issuer, face data from the form."""
    spec = d.licence
    result_type = d.result.licence_type
    if spec is None and result_type is None:
        return
    if spec is not None and result_type is not None and spec.type != result_type:
        out.add(
            "licence.type",
            "licence_type_mismatch",
            f"证照类型 {spec.type!r} 与办理结果的证照类型 {result_type!r} 不一致",
            f"licence type {spec.type!r} differs from the result's licence type {result_type!r}",
        )
    issuer = spec.issuer if spec is not None and spec.issuer is not None else d.implementing_body
    if not (issuer.credit_code or "").strip():
        path = "licence.issuer" if spec is not None else "result.licence_type"
        out.add(
            path,
            "licence_issuer_missing",
            f"证照类型 {(spec.type if spec else result_type)!r} 没有签发机构：请填写 licence.issuer"
            "（含统一社会信用代码），或为实施主体填写统一社会信用代码",
            f"licence type {(spec.type if spec else result_type)!r} has no issuer: give licence.issuer "
            "(with its unified social credit code) or the implementing body's credit code",
        )
    if spec is None:
        return
    form = {f.name for f in d.form}
    seen: set[str] = set()
    for i, face in enumerate(spec.face_data):
        here = f"licence.face_data[{i}]"
        if face.name in seen:
            out.add(f"{here}.name", "duplicate_face_field", f"照面字段 {face.name!r} 重复",
                    f"face field {face.name!r} is used twice")
        seen.add(face.name)
        scope, _, attr = face.source.partition(".")
        if scope == "form" and attr not in form:
            out.add(
                f"{here}.source",
                "face_data_unknown_field",
                f"照面字段 {face.name!r} 引用的表单字段 {attr!r} 不存在",
                f"face field {face.name!r} refers to the form field {attr!r}, which does not exist",
            )
        elif scope != "form" and attr not in FACE_SOURCES.get(scope, set()):
            allowed = ", ".join(f"{scope}.{a}" for a in sorted(FACE_SOURCES.get(scope, set())))
            out.add(
                f"{here}.source",
                "face_data_unknown_source",
                f"照面字段 {face.name!r} 的来源 {face.source!r} 无效，可用：{allowed}",
                f"face field {face.name!r} has an unknown source {face.source!r}; expected one of {allowed}",
            )


def check_implementation_code(out: Collector, d: ItemDefinition, items: Mapping[str, ItemDefinition] | None) -> None:
    """An implementation code (实施编码) names one item of one implementing body: another item (a
    copy of this one, say) may not carry it (``duplicate_implementation_code``)."""
    if not d.implementation_code or items is None:
        return
    for other in items.values():
        if other.code != d.code and other.implementation_code == d.implementation_code:
            out.add("implementation_code", "duplicate_implementation_code",
                    f"实施编码 {d.implementation_code} 已是事项{quoted(other.name)}（{other.code}）的实施编码，"
                    "实施编码不能重复：复制的事项请填写它自己的实施编码",
                    f"implementation code {d.implementation_code} already belongs to item {other.code!r}; "
                    "implementation codes are unique: give the copied item its own")
            return
