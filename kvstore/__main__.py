from kvstore.main import main

raise SystemExit(main())
