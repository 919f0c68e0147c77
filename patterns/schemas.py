"""Request and response schemas (marshmallow): what the API accepts and what it answers."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates

from patterns.models import MarketStatus

STATUSES = [s.value for s in MarketStatus]
MAX_LIMIT = 100


class Strict(Schema):
    """Unknown fields are an error, never silently assigned (no mass assignment of id, volume...)."""

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

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    status = fields.String(load_default="active", validate=validate.OneOf(STATUSES))
    closes_at = fields.AwareDateTime(load_default=None, allow_none=True, format="iso",
                                     default_timezone=UTC)

    @validates("name")
    def _name_not_blank(self, value: str, **_: Any) -> None:
        if not value.strip():
            raise ValidationError("must not be blank")


class ListQuerySchema(Strict):
    """GET /api/markets query string: bounded paging, a known status."""

    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_LIMIT))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10**9))
