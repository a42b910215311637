"""The rules pydantic checks, said in Chinese and English (pydantic error type → templates over the
error's `ctx`): shared by the API's request-validation 422s (api/validation.py) and the item
definitions' schema problems (banjian/items/schema_problems.py)."""
from __future__ import annotations

#: pydantic error types reported under a code of our own (as the item schema reports them)
CODES = {"extra_forbidden": "unknown_field"}

DATE = ("应为有效日期，格式 YYYY-MM-DD", "must be a valid date (YYYY-MM-DD)")
DATETIME = ("应为有效时间，格式 YYYY-MM-DDTHH:MM:SS", "must be a valid date and time (ISO 8601)")
INT = ("应为整数", "must be an integer")
NUMBER = ("应为数字", "must be a number")
BOOL = ("应为布尔值（true 或 false）", "must be a boolean (true or false)")
OBJECT = ("应为 JSON 对象", "must be a JSON object")
CHOICE = ("取值无效，应为以下之一：{expected}", "must be one of {expected}")

#: pydantic error type → (Chinese rule, English rule); templates use the error's ctx
RULES: dict[str, tuple[str, str]] = {
    "missing": ("为必填项，不能缺少", "is required"),
    "extra_forbidden": ("是未知字段", "is not a known field"),
    "string_too_short": ("长度不能少于 {min_length} 个字符", "must have at least {min_length} character(s)"),
    "string_too_long": ("长度不能超过 {max_length} 个字符", "must have at most {max_length} character(s)"),
    "string_pattern_mismatch": ("格式不正确，应匹配 {pattern}", "must match the pattern {pattern}"),
    "string_type": ("应为字符串", "must be a string"),
    "too_short": ("至少需要 {min_length} 项", "must have at least {min_length} item(s)"),
    "too_long": ("最多允许 {max_length} 项", "must have at most {max_length} item(s)"),
    "greater_than_equal": ("不能小于 {ge}", "must be greater than or equal to {ge}"),
    "greater_than": ("必须大于 {gt}", "must be greater than {gt}"),
    "less_than_equal": ("不能大于 {le}", "must be less than or equal to {le}"),
    "less_than": ("必须小于 {lt}", "must be less than {lt}"),
    "literal_error": CHOICE,
    "enum": CHOICE,
    "int_type": INT, "int_parsing": INT, "int_from_float": INT, "int_parsing_size": INT,
    "float_type": NUMBER, "float_parsing": NUMBER, "finite_number": NUMBER,
    "bool_type": BOOL, "bool_parsing": BOOL,
    "date_type": DATE, "date_parsing": DATE, "date_from_datetime_parsing": DATE,
    "date_from_datetime_inexact": ("应为日期，不能带时间", "must be a date without a time"),
    "datetime_type": DATETIME, "datetime_parsing": DATETIME, "datetime_from_date_parsing": DATETIME,
    "list_type": ("应为列表", "must be a list"),
    "dict_type": OBJECT, "model_type": OBJECT, "model_attributes_type": OBJECT,
    "json_invalid": ("不是有效的 JSON", "is not valid JSON"),
    "json_type": ("应为 JSON", "must be JSON"),
    "uuid_parsing": ("应为 UUID", "must be a UUID"), "uuid_type": ("应为 UUID", "must be a UUID"),
}
#: the same rules said of a date: earlier/later rather than smaller/greater
DATE_RULES: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("不能早于 {ge}", "must not be before {ge}"),
    "greater_than": ("必须晚于 {gt}", "must be after {gt}"),
    "less_than_equal": ("不能晚于 {le}", "must not be after {le}"),
    "less_than": ("必须早于 {lt}", "must be before {lt}"),
}

#: what people call the request fields they meet most (the last part of a field's path): a message
#: names the field by its code, as the API reads it, and by this name, as the page labels it
FIELD_NAMES_ZH: dict[str, str] = {
    "action": "操作", "comment": "意见或理由", "data": "操作数据", "item_code": "事项编码",
    "applicant": "申请人", "kind": "类型", "id_number": "证件号码", "name": "名称", "form": "申请表",
    "materials": "申请材料", "channel": "申请渠道", "idempotency_key": "幂等键", "file_id": "文件",
    "licence_id": "电子证照", "limit": "每页条数", "offset": "起始位置", "q": "查询词", "status": "状态",
    "warning": "预警", "department": "部门", "slot": "预约时段", "text": "内容", "reason": "理由",
    "password": "密码", "username": "用户名", "level": "评价等级", "days": "天数", "year": "年份",
    "page": "页码",
}
#: names that differ in a query string: there `level` is the warnings board's filter (预警等级), not a rating
QUERY_FIELD_NAMES_ZH: dict[str, str] = {"level": "预警等级"}

