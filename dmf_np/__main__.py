"""Command line: ``python -m dmf_np {info,gradcheck,demo,...}``."""
from .cli import main

raise SystemExit(main())
