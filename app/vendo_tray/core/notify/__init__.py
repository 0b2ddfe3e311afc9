"""What deserves a notification, and when: one rule module per subject, one delivery gate.

Pure and Qt-free; time is injected (``Context.clock``: monotonic seconds for windows and
timers; ``Context.now``: aware wall time for "pause until"), so every rule is tested
without waiting.  Rules never drop *state*: muted, paused or held events still move the
per-subject state, so what the tray shows stays true; only popups are held back.

Where each rule lives
---------------------
``connections``  needs re-authorization, error, connected, disconnected (one state per connection)
``balance``      low and exhausted: only a move to a worse level pops up
``runway``       the balance lasting fewer days than the user's threshold: once per crossing, before "low"
``caps``         spend-cap warned / tripped, once per window, kind, percentage and period
``stream``       offline for over a minute, key rejected, and the quiet start after launch or wake
``gate``         delivery for all of them: toggles, muted connections, bursts, pause and its summary, catch-up
``mutes``        which connections the user muted, until when, and what a mute covers
``text``         the wording helpers every rule uses (plain text, names, URL buttons)

``core.policy.Policy`` is the facade the monitor calls; it routes each event to its rule.
What a kind *is* (label, severity, needs-action, buttons) is in ``core.kinds.KIND_FACTS``.
"""
