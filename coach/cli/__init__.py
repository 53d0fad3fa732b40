"""The `coach` command line: the argument parser (parser.py), the command bodies (commands.py)
and the JSON-lines I/O of the contract (jsonio.py: batch mode, stdout discipline); the JSON
schema of every command's output is package data under schemas/.
Public names: main.
May import every stage; nothing in the library imports it.
"""

from coach.cli.parser import main

__all__ = ["main"]
