from engine.train.cli import main

raise SystemExit(main())
