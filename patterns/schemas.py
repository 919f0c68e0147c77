"""Request and response schemas (marshmallow): what the API accepts and what it answers."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from patterns.models import MarketStatus, Role

STATUSES = [s.value for s in MarketStatus]
ROLES = [r.value for r in Role]
MAX_LIMIT = 100
MAX_ID = 2**31 - 1  # ids are INTEGER columns: nothing above this can exist
# Any RFC 3339 date-time is stored, except on the first and last day Python can hold: there an
# offset can push it past year 1 or 9999 once converted to UTC (an overflow). The same rule is
# written in the OpenAPI document as a pattern, a keyword every JSON Schema validator reads.
EDGE_DAYS = (date(1, 1, 1), date(9999, 12, 31))
DATE_TIME_PATTERN = r"^(?!0000-|0001-01-01|9999-12-31)"
# "Not blank": one character that is not whitespace. Spelled out (the characters str.strip()
# removes) rather than \S, which Python, ECMA-262 and Rust regex each read differently
# ("\x1c" and "\ufeff" differ): the API and every validator of the document agree.
NOT_BLANK_PATTERN = (r"[^\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f"
                     r"\u205f\u3000]")
NO_NUL_PATTERN = r"^[^\x00]*$"  # Text refuses NUL (PostgreSQL cannot store it): say so
# A name: no NUL anywhere, and somewhere one character that is neither NUL nor blank.
NAME_PATTERN = r"^[^\x00]*" + NOT_BLANK_PATTERN[:2] + r"\x00" + NOT_BLANK_PATTERN[2:] + r"[^\x00]*$"


def _not_on_an_edge_day(value: datetime) -> None:
    if value.date() in EDGE_DAYS:
        raise ValidationError("must be after 0001-01-01 and before 9999-12-31")


class IdConverter(IntegerConverter):
    """`<int:...>` for row ids: one above MAX_ID is a 404 before the driver overflows (a 500)."""

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > MAX_ID:
            # Not max= (a ValidationError): werkzeug then answers PUT and DELETE with a 405,
            # because the path's GET rule matched first. An HTTPException here is a plain 404.
            raise NotFound()
        return number


class Text(fields.String):
    """A string every database stores: no NUL (PostgreSQL refuses it), no lone surrogate."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"pattern": NO_NUL_PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # JSON may carry "\ud800"; the driver would fail with a 500
            raise ValidationError("must be valid Unicode text") from None
        return text


class Strict(Schema):
    """Unknown fields are an error, never silently assigned (no mass assignment of id, volume)."""

    class Meta:
        unknown = RAISE


class CreatorSchema(Strict):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class MarketSchema(Strict):
    """A market as the API answers it."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    volume = fields.Float(required=True)  # JSON number; the column keeps the exact decimal
    created_at = fields.DateTime(required=True, format="iso")
    closes_at = fields.DateTime(required=True, allow_none=True, format="iso")
    creator = fields.Nested(CreatorSchema, required=True)


class MarketWriteSchema(Strict):
    """The writable fields of a market: what POST and PUT accept."""

    name = Text(required=True, validate=validate.Length(min=1, max=200),
                metadata={"pattern": NAME_PATTERN})
    description = Text(load_default="", validate=validate.Length(max=2000))
    status = fields.String(load_default="active", validate=validate.OneOf(STATUSES))
    # 9999-12-31T23:00-14:00 parses, but is past year 9999 in UTC (an overflow, a 500).
    closes_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso",
                                     default_timezone=UTC, validate=_not_on_an_edge_day,
                                     metadata={"pattern": DATE_TIME_PATTERN})

    @validates("name")
    def _name_not_blank(self, value: str, **_: Any) -> None:
        if not re.search(NOT_BLANK_PATTERN, value):
            raise ValidationError("must not be blank")


class ListQuerySchema(Strict):
    """GET /api/markets query string: bounded paging, a known status."""

    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_LIMIT))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class PageQuerySchema(Strict):
    """A query string with only bounded paging (GET /api/admin/users)."""

    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_LIMIT))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))


class AdminUserSchema(Strict):
    """A user as an admin sees it: the email is here, and nowhere else in the API."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


# ---- Response envelopes: what the OpenAPI document promises and the fuzz test checks ----

class PageMetaSchema(Strict):
    limit = fields.Integer(required=True)
    offset = fields.Integer(required=True)
    count = fields.Integer(required=True)


class SuccessEnvelope(Strict):
    """The seed's success envelope, {"success": true, ...}: every 2xx answer with a body."""

    success = fields.Boolean(required=True, validate=validate.Equal(True))


class MarketEnvelopeSchema(SuccessEnvelope):
    data = fields.Nested(MarketSchema, required=True)


class MarketListEnvelopeSchema(SuccessEnvelope):
    data = fields.List(fields.Nested(MarketSchema), required=True)
    meta = fields.Nested(PageMetaSchema, required=True)


class UserListEnvelopeSchema(SuccessEnvelope):
    data = fields.List(fields.Nested(AdminUserSchema), required=True)
    meta = fields.Nested(PageMetaSchema, required=True)


class HealthSchema(Strict):
    status = fields.String(required=True)


class HealthEnvelopeSchema(SuccessEnvelope):
    data = fields.Nested(HealthSchema, required=True)


class ProblemSchema(Strict):
    """RFC 9457 problem details plus the seed's envelope members (every /api error)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True, validate=validate.Range(min=400, max=599))
    detail = fields.String(required=True)
    instance = fields.String(required=True)
    success = fields.Boolean(required=True, validate=validate.Equal(False))
    error = fields.String(required=True)
    errors = fields.Dict(keys=fields.String())  # field name -> messages, on validation errors


class SearchMetaSchema(Strict):
    q = fields.String(required=True)
    limit = fields.Integer(required=True)
    count = fields.Integer(required=True)


class SearchHitSchema(Strict):
    score = fields.Float(required=True)
    market = fields.Nested(MarketSchema, required=True)


class SearchEnvelopeSchema(SuccessEnvelope):
    data = fields.List(fields.Nested(SearchHitSchema), required=True)
    meta = fields.Nested(SearchMetaSchema, required=True)


class CacheStatsSchema(Strict):
    hits = fields.Integer(required=True)
    misses = fields.Integer(required=True)
    recomputes = fields.Integer(required=True)
    hit_ratio = fields.Float(required=True, validate=validate.Range(min=0, max=1))


class CacheStatsEnvelopeSchema(SuccessEnvelope):
    data = fields.Nested(CacheStatsSchema, required=True)


class TaskSchema(Strict):
    task_id = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(
        ["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE"]))
    result = fields.Raw(allow_none=True)  # what the task returned, once it succeeded
    error = fields.String()  # the exception's type when it failed; its message stays in the logs


class TaskEnvelopeSchema(SuccessEnvelope):
    data = fields.Nested(TaskSchema, required=True)
