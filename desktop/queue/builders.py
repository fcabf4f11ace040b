"""Making frozen, slotted dataclasses fast, for the values built once per task on a worker's hot
path (Task, Settlement).

A frozen dataclass's generated __init__ calls object.__setattr__ once per field, by name. The
function `slot_builder` makes sets each slot through its descriptor instead, in straight-line code
generated from the fields (as dataclasses generates __init__), for about half the cost. The
object is the one __init__ would make: use it only for classes without __post_init__ or field
converters (tests compare the two).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def slot_builder(cls: type[T]) -> Callable[..., T]:
    """A function taking every field of `cls` in order, positionally, and returning the instance."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or not names:
        raise TypeError(f"{cls.__name__}: slot_builder needs fields and no __post_init__")
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{name}": getattr(cls, name).__set__ for name in names})
    lines = [f"def build({', '.join(names)}):", "    made = new(cls)"]
    lines += [f"    set_{name}(made, {name})" for name in names]
    lines.append("    return made")
    exec("\n".join(lines), scope)  # the source is made above from the field names only
    build: Callable[..., T] = scope["build"]
    return build
