"""`python -m clipgen_convert` is the same program as the `clipgen-convert` console script."""

from clipgen_convert.cli import main

raise SystemExit(main())
