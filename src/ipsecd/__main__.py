"""``python -m ipsecd``: the same entry point as the ``ipsecd`` console script."""

from ipsecd.cli import main

raise SystemExit(main())
