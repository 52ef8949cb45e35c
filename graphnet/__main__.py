"""`python -m graphnet ...`"""

from graphnet.cli import main

main()
