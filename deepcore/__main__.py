import sys

from deepcore.cli import main

sys.exit(main())
