import sys

from ingestd.cli import main

sys.exit(main())
