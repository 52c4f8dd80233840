"""Import first in tests that load discord.py: it imports `audioop`, deprecated since Python
3.11, and pyproject turns warnings into errors. Importing it once here, under a narrow filter,
keeps the suite strict about every other warning. (Better: the pyproject filter; see the note.)"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import audioop  # noqa: F401
