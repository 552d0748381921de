"""The mxbot diagnostic engine: pure, async checks that explain why mail to or from a domain fails."""
