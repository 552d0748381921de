"""mxbot's faces: the Slack app, the CLI and the renderers they share."""
