"""``python -m kvstore.cli``: run kvctl."""

from kvstore.cli.main import main

raise SystemExit(main())
