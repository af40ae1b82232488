"""The HTTP service (``topictensor serve``): see ``topictensor.service.app``."""

from topictensor.service.app import create_app

__all__ = ["create_app"]
