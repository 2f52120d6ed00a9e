"""``python -m bundleopt …``: the same program as the ``bundleopt`` command, named so."""
from bundleopt.cli import main

if __name__ == "__main__":
    main(prog_name="bundleopt")
