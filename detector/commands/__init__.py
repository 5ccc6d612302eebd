"""Sub-commands of `exprdet`; see detector/cli.py."""
