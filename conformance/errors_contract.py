"""The error contract as the suite judges it (ERR-1, ERR-2): the error's builtin base, and a
message that names the argument as a whole word.

"Names" means the argument's text appears with no letter, digit or underscore directly before
or after it: ``q must have rank 4`` and ``params['local.q.weight'] ...`` name ``q`` and
``local.q.weight``; ``see sequence docs`` does not name ``q``, nor ``min_window must ...``
``window``.
"""

from __future__ import annotations

import re

_WORD = r"[A-Za-z0-9_]"


def names_argument(message: str, argument: str) -> bool:
    """Does ``message`` name ``argument`` as a whole word (ERR-2)?"""
    if not argument:
        return False
    pattern = rf"(?<!{_WORD}){re.escape(argument)}(?!{_WORD})"
    return re.search(pattern, message) is not None
