"""Exception classes of mmeff: callers branch on these, never on a message's text."""


class NonFiniteError(ValueError):
    """NaN or Inf in a frame, or produced inside a network; the stream's state is unchanged."""
