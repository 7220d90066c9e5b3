"""The base of every LeanIX model, and the REST envelope helper.

Models accept LeanIX's camelCase names and our snake_case names, and keep unknown fields, so a
new server field never breaks a parse.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic.alias_generators import to_camel


class LeanIXModel(BaseModel):
    """Base model: camelCase aliases, populate by name, unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_api(self) -> dict[str, Any]:
        """The JSON body LeanIX expects: camelCase keys, no unset values, secrets revealed."""
        body = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                body[self._alias(name)] = value.get_secret_value()
        return body

    @classmethod
    def _alias(cls, name: str) -> str:
        return cls.model_fields[name].alias or name


def unwrap_data(payload: Any) -> Any:
    """The `data` of a LeanIX `BasicResponse` envelope, or the payload itself when it has none."""
    if isinstance(payload, dict) and "data" in payload:
        return payload["data"]
    return payload
