"""The person's web view, served by `agentmail serve` beside IMAP and SMTP (docs/web.md).

`service` starts it on serve's event loop, `app` holds the security every request passes and the sign-in, `api`
the JSON routes and the live stream, `views` the store work behind them (over agent/), `journal` the conversation
index, `events` the store watcher and the fan-out to live views, `state` what they share. Static files (plain
HTML, CSS and JavaScript, no build step) are under `static/`.
"""
