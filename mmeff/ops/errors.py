"""Exception classes of mmeff: callers branch on these, never on a message's text."""
from typing import NoReturn

import torch
from torch import Tensor


class NonFiniteError(ValueError):
    """NaN or Inf in a frame, or produced inside a network; the stream's state is unchanged."""


def reraise_non_finite(error: ValueError, x: Tensor, message: str) -> NoReturn:
    """Re-raise ``error``, a compiled op's ValueError, as :class:`NonFiniteError` with
    ``message`` if ``x`` holds NaN or Inf (the op's finiteness check), else as it is. Called
    from an ``except`` clause, so the op's successful calls pay nothing."""
    if not bool(torch.isfinite(x.sum())):
        raise NonFiniteError(message) from error
    raise error
