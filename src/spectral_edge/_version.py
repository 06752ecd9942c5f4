"""The package's version, in a module of its own.

Modules that record the version (the monitor, the run store, the lab's trainer, the report, the
command line) import it from here rather than from the package root: the root lazily imports
those modules for its public names, so importing the root from them would make a cycle.
"""

__version__ = "0.1.0"
