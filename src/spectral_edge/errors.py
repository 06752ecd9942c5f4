"""The one exception type of spectral-edge.

Every error the library raises on purpose is a :class:`SpectralEdgeError` whose message names the
problem and what to do about it, so callers need to catch exactly one type.
"""


class SpectralEdgeError(ValueError):
    """Bad input or an impossible request; the message says what to change."""
