"""``python -m bench <suite> [options]``: run one benchmark suite (``-h`` after the suite
name lists its options)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# Suite name -> module with ``main(argv) -> int``. Add a suite with one line here.
SUITES = {
    "tenants": "bench.tenants",
    "graphql": "bench.graphql",
    "jobs": "bench.jobs",
    "backups": "bench.backups",
    "auth": "bench.auth",
    "merchants": "bench.merchants",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SUITES:
        print(f"usage: python -m bench {{{','.join(SUITES)}}} [options]", file=sys.stderr)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    suite = importlib.import_module(SUITES[args[0]])
    return suite.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
