"""Exception classes of mmeff: callers branch on these, never on a message's text."""
import contextlib
from typing import Iterator

import torch
from torch import Tensor


class NonFiniteError(ValueError):
    """NaN or Inf in a frame, or produced inside a network; the stream's state is unchanged."""


@contextlib.contextmanager
def non_finite_errors(x: Tensor, message: str) -> Iterator[None]:
    """Turn a ValueError raised inside the block while ``x`` holds NaN or Inf (a compiled op's
    finiteness check) into :class:`NonFiniteError` with ``message``; other errors pass."""
    try:
        yield
    except NonFiniteError:
        raise
    except ValueError as error:
        if not bool(torch.isfinite(x.sum())):
            raise NonFiniteError(message) from error
        raise
