from engine.evaluate.cli import main

raise SystemExit(main())
