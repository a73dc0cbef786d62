"""``python -m beluga_core``: the ``beluga`` command."""

from .cli import main

if __name__ == "__main__":
    main()
