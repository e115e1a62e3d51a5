import sys

from framecast.components.tiny_model import main

sys.exit(main())
