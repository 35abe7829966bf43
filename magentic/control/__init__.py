"""One control channel between a run and the people steering it.

Why one channel: a run may be watched from the console, from the web view, or from nobody at
all (a bench, a pipe). If each face talked to the orchestrator its own way, every new face
would need its own hooks in the core, and "is anyone there to ask?" would have as many answers
as there are faces. So the core knows only `ControlChannel`, and faces are peers on it:

- **Commands come in** (`commands.py`): pause, resume, guide(text), approve / deny(request id,
  reason), edit_plan(steps), stop(reason). Any face sends them with `ControlChannel.send`
  (from the event loop) or `send_threadsafe` (from a signal handler or a thread). Each command
  received is an event in the trace, so a replay shows who steered and when.
- **Requests and decisions go out as events**: `ControlRequested` when the run wants a person
  (an action to approve, a plan to review, a question), `ControlDecided` with the outcome and
  who made it (the person at the console, the web view's session `web:<id>`, the policy, or
  nobody). Faces render requests from the events they
  already subscribe to; they answer with commands. No face calls into the orchestrator.
- **Safe points.** The run reads the channel only where it is safe to change course: the
  orchestrator between rounds (`safe_point`), and agents before each guarded action (through
  `gate.ApprovalGate`). A pause takes effect at the next safe point; guidance and plan edits
  given meanwhile are handed over there, all at once, in the order given.
- **Presence.** A face that can answer `attach`es while it can (the console when stdin is a
  terminal, the web view while it serves the run). With no face attached a request is not
  left waiting: it is decided at once as "nobody is there", which for an approval means deny,
  with that reason recorded.

The faces today: `magentic.ui.console_face` (stdin a terminal, or `--interactive`; its first
Ctrl-C is a pause, through `magentic.stopping`) and `magentic.ui.web.steering` (`run --ui`).

The channel lives on one event loop and holds no locks: faces on other threads go through
`send_threadsafe`.

Modules: `commands` (what a face may send), `channel` (the channel), `settings` (the
`[approval]` table, a leaf) and `gate` (policy, then a person). The package itself imports
nothing, so reading a config that names `[approval]` loads no more than its settings.
"""
