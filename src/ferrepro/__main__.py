import sys

from ferrepro.cli import main

sys.exit(main())
