"""The FlowyML-compatible API (``flowyml.core.step``, ``.context``, ``.pipeline``, ...)."""
