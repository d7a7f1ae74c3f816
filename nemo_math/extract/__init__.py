"""``nemo-math extract``: problems with checkable answers from raw forums (StackExchange dumps, AoPS threads)."""
