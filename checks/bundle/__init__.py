"""The fix bundle: every record a report's findings propose, reconciled into one zone snippet."""
