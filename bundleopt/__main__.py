"""``python -m bundleopt …``: the same program as the ``bundleopt`` command."""
from bundleopt.cli import main

if __name__ == "__main__":
    main()
