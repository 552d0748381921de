"""The Slack face: the Bolt app, its listeners, HTTP and Socket Mode transports, service limits."""
