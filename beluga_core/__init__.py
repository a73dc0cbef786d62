"""beluga_core: the Beluga workflow API, the embedded durable executor and the workflow stores."""

__version__ = "0.1.0"
