"""askbot: cited answers from a corpus of news articles, in the terminal and on Discord."""

# The single source of the version (pyproject reads it); a literal, because asking
# importlib.metadata costs ~90 ms at every start of the command.
__version__ = "0.1.0"

__all__ = ["__version__"]
