"""`python -m hakit`: the same as the `hakit` console script."""

from hakit.launch import entry

entry()
