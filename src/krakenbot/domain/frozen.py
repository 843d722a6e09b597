"""A faster ``__init__`` for the frozen value types built on every order, fill and account read.

``@dataclass(frozen=True, slots=True)`` sets each field with ``object.__setattr__`` looked up per
field, about eight times what a plain assignment costs (~670 instructions against ~80): a backtest builds
tens of these per wake. ``fast_init`` keeps the class exactly as declared (a frozen, slotted, keyword-only
dataclass: same fields, defaults, equality, ``replace``, ``FrozenInstanceError`` on assignment) and swaps
only the generated ``__init__``, which then runs ``__post_init__`` as the dataclass one does.

Built on the order path, once per order or position (``new``): on Python 3.11, calling a class with keywords
packs them into a dict and unpacks it again for ``__init__`` (``type.__call__``), about 4k instructions a value,
a third of its cost. ``obj = new(Cls); Cls.__init__(obj, ...)`` is the same construction (the same ``__init__``,
``__post_init__`` and checks; mypy checks the keywords alike) without that dict, and without the per-field cost:
``new`` hands out a blank of the class's *fields twin* (a subclass of ``Cls`` that adds no slots and is not
frozen: ``object``'s ``__setattr__`` and ``__delattr__``), whose slots ``__init__`` fills by plain assignment before
turning the blank into a ``Cls`` (``__class__`` assignment, which CPython allows between classes of one slot
layout; checked once per class, here) and running ``__post_init__``. What ``Cls.__init__`` returns is a ``Cls``
like any other. The twin is a subclass, not a sibling with the same ``__slots__``, because CPython checks an
assignment between a class and a subclass adding nothing without comparing their slot names (about 250
instructions less, on every value). A ``Cls(...)`` call hands ``__init__`` a ``Cls``: with ``_SWAP_FROM`` fields
or more it is turned into a blank first (one ``object.__setattr__``, cheaper than that many descriptor calls),
else its slots are written through their member descriptors (what ``object.__setattr__`` ends up calling).
"""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import Any, TypeVar

T = TypeVar("T")

_object_new = object.__new__
_SWAP_FROM = 4  # fields from which a ``Cls(...)`` call's instance is turned into a blank (about 2.6k instructions)
_TWINS: dict[type, type] = {}  # a ``fast_init`` class -> its fields twin (see the module docstring)


def new(cls: type[T]) -> T:
    """A blank of the ``fast_init`` class ``cls``, whose ``cls.__init__(obj, ...)`` is called next (see the module
    docstring); until then it is of the twin (a subclass), not ``cls`` itself. Raises ``KeyError`` for any other
    class."""
    return _object_new(_TWINS[cls])


def fast_init(cls: type[T]) -> type[T]:
    """Give the frozen, slotted, keyword-only dataclass ``cls`` the faster ``__init__`` (see the module
    docstring). Raises ``TypeError`` for a class this does not fit (not frozen, slotted and keyword-only,
    or a field with a ``default_factory``)."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__name__} must be a @dataclass(frozen=True, slots=True, kw_only=True)")
    twin = type(f"{cls.__name__}Fields", (cls,), {"__slots__": (), "__setattr__": object.__setattr__,
                                                  "__delattr__": object.__delattr__, "__module__": cls.__module__,
                                                  "__qualname__": f"{cls.__qualname__}Fields"})
    blank: Any = _object_new(twin)
    blank.__class__ = cls  # raises TypeError now, not per value, should the layouts ever differ
    namespace: dict[str, Any] = {"_twin": twin, "_cls": cls, "_object_setattr": object.__setattr__}
    args: list[str] = []
    plain: list[str] = []  # a blank of the twin: plain assignments
    described: list[str] = []  # a ``cls`` (a ``cls(...)`` call): through the slots' member descriptors
    for f in fields(cls):  # type: ignore[arg-type]
        if not f.kw_only or f.default_factory is not MISSING:
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} must be keyword-only, without a default_factory")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__  # the slot's member descriptor
        if f.default is not MISSING:
            namespace[f"_default_{f.name}"] = f.default
        if f.init:
            args.append(f.name if f.default is MISSING else f"{f.name}=_default_{f.name}")
            value = f.name
        elif f.default is not MISSING:
            value = f"_default_{f.name}"
        else:
            continue
        plain.append(f"        self.{f.name} = {value}")
        described.append(f"        _set_{f.name}(self, {value})")
    body = ["    if type(self) is _twin:", *plain, "        self.__class__ = _cls",
            "    else:", *(described or ["        pass"])]
    if len(plain) >= _SWAP_FROM:
        body = ["    if type(self) is _cls:", "        _object_setattr(self, '__class__', _twin)", *body]  # a Cls(...)
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    source = f"def __init__(self, *, {', '.join(args)}):\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # generated from the dataclass's own field names, as dataclasses does
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[method-assign]
    _TWINS[cls] = twin
    return cls
