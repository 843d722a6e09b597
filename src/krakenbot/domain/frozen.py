"""A faster ``__init__`` for the frozen value types built on every order, fill and account read.

``@dataclass(frozen=True, slots=True)`` sets each field with ``object.__setattr__`` looked up per
field, about three times what a plain assignment costs: a backtest builds tens of these per wake.
``fast_init`` keeps the class exactly as declared (a frozen, slotted, keyword-only dataclass: same
fields, defaults, equality, ``replace``, ``FrozenInstanceError`` on assignment) and swaps only the
generated ``__init__`` for one that writes each slot through its member descriptor (what
``object.__setattr__`` ends up calling), then runs ``__post_init__`` as the dataclass one does.

Built on the order path, once per order or position (``new``): on Python 3.11, calling a class with keywords
packs them into a dict and unpacks it again for ``__init__`` (``type.__call__``), about 4k instructions a value,
a third of its cost. ``obj = new(Cls); Cls.__init__(obj, ...)`` is the same construction (the same ``__init__``,
``__post_init__`` and checks; mypy checks the keywords alike) without that dict.
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, TypeVar

T = TypeVar("T")

new = object.__new__  # ``new(Cls)``: an instance of a ``fast_init`` class whose ``__init__`` is called next (above)


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted, keyword-only dataclass ``cls`` the faster ``__init__`` (see the module
    docstring). Raises ``TypeError`` for a class this does not fit (not frozen, slotted and keyword-only,
    or a field with a ``default_factory``)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__name__} must be a @dataclass(frozen=True, slots=True, kw_only=True)")
    namespace: dict[str, Any] = {}
    args: list[str] = []
    body: list[str] = []
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.kw_only or f.default_factory is not MISSING:
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} must be keyword-only, without a default_factory")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
        if f.init:
            args.append(f.name if f.default is MISSING else f"{f.name}=_default_{f.name}")
            body.append(f"    _set_{f.name}(self, {f.name})")
        elif f.default is not MISSING:
            body.append(f"    _set_{f.name}(self, _default_{f.name})")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, *, {', '.join(args)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(source, namespace)  # generated from the dataclass's own field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
