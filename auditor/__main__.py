"""`python -m auditor` is the same CLI as `auditor`."""

from auditor.cli import main

main()
