import sys

from optimizer.container.entrypoint import main

sys.exit(main())
