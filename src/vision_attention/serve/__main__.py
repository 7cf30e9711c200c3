"""``python -m vision_attention.serve``: see :func:`vision_attention.serve.app.main` (``--help``)."""

from .app import main

raise SystemExit(main())
