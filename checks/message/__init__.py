"""Message diagnosis: why did this message bounce, land in spam, or fail authentication?

Pure parsers and verdicts (`parse`, `hops`, `reported`, `bounce`, `codes`, `knowledge`, `bulk`,
`alignment`) beside the few modules that look things up through injected clients (`signatures`,
`arc`, `sender`, `live`) and the one that runs them all (`diagnose`). No Slack, no terminal.
"""
