"""The operators' web console at /console, served by `bot serve` itself (docs/console.md):
server-made pages (Jinja2 templates), a vendored htmx for the overview's live figures and
the flows drawn as SVG on the server; nothing loaded from anywhere else.

    guard.py       sign-in, sessions, CSRF, the security headers
    pages.py       the pages and their actions
    campaigns.py   the Campaigns pages
    transcript.py  a conversation's history as a chat and a step trace
    diagram.py     a flow's machine as an SVG diagram with its counts
    site.py        the console added to the app: routes, error pages, headers
    render.py      the templates
    state.py       what the console keeps for the app's life

On only when BOT_CONSOLE_TOKENS is set (or in sandbox mode)."""
