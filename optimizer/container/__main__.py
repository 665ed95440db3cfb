import sys

from charter.optimizer.container.entrypoint import main

sys.exit(main())
