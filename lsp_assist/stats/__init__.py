"""Acceptance statistics: what happened to the suggestions this machine's editors showed.

The clients tell the server when a suggestion is shown, accepted (in full or in part) or
dismissed (`lsp/suggestion_events.py` has the protocol); the server adds what only it knows —
which model or endpoint made the suggestion, the document's language, the answer's latency,
how many generations it started — and, 30 s after an accept, how many of the accepted
characters are still in the document (`retention.py`: "accepted-and-retained characters", the
figure Copilot's team optimises, rather than the raw acceptance rate).

Everything stays on this machine, in the state directory (`log.py`: 0700 folder, 0600 files,
one JSON-lines file per day, bounded in days and bytes), and is never sent anywhere. A line
holds lengths, ids, timings, the language and the model's label: never code, never a file name.
`lsp-assist stats` (`stats_command.py`, aggregation in `aggregate.py`) reads it back.
"""
