"""`esbridge react`: run a program or a webhook for matching stream messages, without a shell.

`match` (conditions), `paths` (prefix mapping and refusal), `coalesce` (one run per target and
window), `offsets` (what may be committed), `actions` (running and judging a run) are pure or
take their seams as parameters; `runner` is the consumer loop over them.
"""
