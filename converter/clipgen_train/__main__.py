"""`python -m clipgen_train` is the same program as the `clipgen-train` console script."""

from clipgen_train.cli import main

raise SystemExit(main())
