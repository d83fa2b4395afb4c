"""``python -m tidegate``: the ``tidegate`` command."""

from tidegate.cli.main import entry

if __name__ == "__main__":
    entry()
