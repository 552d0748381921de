"""The diagnosis: which finding is the root cause of a report's mail trouble, and which only repeat it."""
