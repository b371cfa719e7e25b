"""What every as-written definition model shares: the strict base model, names and scalar values.

Kept apart from :mod:`tagfactory.compiler.models` so that section models in other modules
(:mod:`tagfactory.compiler.export_models`) and the section registry can import it without a cycle.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Scalar = str | int | float | bool


class Strict(BaseModel):
    """Base: unknown fields are errors; values are not coerced between types."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)
