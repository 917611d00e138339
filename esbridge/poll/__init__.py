"""`esbridge poll`: pool snapshots from dCache's REST API (the frontend) onto Kafka.

`client` asks dCache, `snapshot` flattens its answers (pure), `cycle` runs one cycle,
`runner` keeps the schedule, `publish` hands the snapshots to Kafka. docs/poll.md.
"""
