"""``python -m reallm``: the ``reallm`` command line, in this Python process.

The same commands, options, output and exit codes as the ``reallm`` binary (``all``, ``sim``,
``kernel``, ``traces``, ``sweep``, ...): it runs the host library's own entry point.
"""

import sys

from reallm._reallm import cli_main


def main() -> int:
    """Run the command line with ``sys.argv[1:]``; return the exit code."""
    sys.stdout.flush()
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
