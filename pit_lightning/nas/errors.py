"""Errors and warnings raised while converting a seed network."""


class PITError(ValueError):
    """A seed network, layer or option that PIT cannot handle, with the reason."""


class UnsearchedLayerWarning(UserWarning):
    """A Conv1d that PIT leaves as it is (strided, grouped, dilated, ...)."""
