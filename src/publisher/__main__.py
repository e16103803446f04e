import sys

from publisher.app.cli import main

sys.exit(main())
