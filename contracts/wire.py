"""Shared pydantic configuration: camelCase on the wire, unknown fields refused."""

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        extra="forbid",
        frozen=True,
    )

    def to_wire(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)


def field_errors(error: ValidationError | Sequence[dict]) -> list[dict[str, str]]:
    """Flatten pydantic errors (a ValidationError, or the error list a framework
    collected from one) into the contract's `errors` list of {field, message}."""
    errors = []
    for item in error.errors(include_url=False) if isinstance(error, ValidationError) else error:
        field = ".".join(str(part) for part in item["loc"]) or "body"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "missing":
            message = "field required"
        errors.append({"field": field, "message": message})
    return errors
