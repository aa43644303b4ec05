"""The error types of the reference (ERR-1).

Every error names the argument, the expectation and what was found (ERR-2). Each type also
derives from the builtin exception a Python caller would expect, so ``except ValueError``
keeps working; conformance checks only that builtin base (spec/AHA.md, section 9).
"""


class AHAError(Exception):
    """Base of every error the reference raises."""


class ConfigError(AHAError, ValueError):
    """An AHAConfig field is missing, unknown or outside its rule (ERR-3)."""


class ShapeError(AHAError, ValueError):
    """An array has the wrong rank, an empty axis, or a size that disagrees (ERR-4)."""


class DTypeError(AHAError, TypeError):
    """An array has a dtype the spec does not accept there (ERR-5)."""


class DomainError(AHAError, ValueError):
    """A value is non-finite or outside its range, e.g. span_scale outside [0, 1] (ERR-6)."""


class ParamsError(AHAError, ValueError):
    """The params mapping lacks a name the layer needs or holds one it does not know (ERR-7)."""


ERROR_TYPES: dict[str, type[AHAError]] = {
    cls.__name__: cls for cls in (ConfigError, ShapeError, DTypeError, DomainError, ParamsError)
}
