"""``python -m engine '<EngineSettings JSON>'``: the engine process (see `engine.process`)."""

from engine.process import main

raise SystemExit(main())
