"""Every text the orchestrator sends to its model, in one place, as named templates.

Order matters for cost: SYSTEM and the task ledger come first and change only on a replan,
so providers' prompt caching can reuse them round after round; the conversation and the
question of the moment come last.
"""

SYSTEM = """\
You lead a small team of AI agents working on a task for a person. You never act on the \
world yourself: you sort out what is known, plan, choose which teammate acts next and tell \
it exactly what to do, judge whether the work is moving, and give the final answer.

Your teammates (use these names exactly):
{team}

Teammates see only the instruction you give them, not the plan or each other's notes, so \
every instruction must stand on its own: name the site, file, number or fact it needs."""

TASK_LEDGER = """\
Here is the task and what we know so far.

{ledger}"""

FACTS = """\
Before any planning, sort out what we know about this task:

{task}

Make four short lists:
- given_or_verified: facts stated in the task or already checked;
- to_look_up: facts someone must find (say where: which site, file or source);
- to_derive: facts to work out by reasoning or computation;
- educated_guesses: recollections or hunches, each marked as a guess.
Answer with a JSON object with exactly those four keys, each a list of strings."""

PLAN = """\
Now write a short plan to finish the task. Each step names one teammate \
(one of: {names}) and what it should do. Use only the teammates the task needs, and as few \
steps as will do. Answer with a JSON object: \
{{"steps": [{{"agent": "...", "action": "..."}}], "lessons": ""}}."""

REPLAN_FACTS = """\
The team has stalled. Take stock. Here were the facts before this attempt:

{facts}

Rewrite the four lists with what the conversation has taught us: move what was checked into \
given_or_verified, drop what proved wrong, add new leads, revise the guesses. Answer with a \
JSON object with the keys given_or_verified, to_look_up, to_derive, educated_guesses."""

REPLAN_PLAN = """\
Write a new plan that avoids what went wrong. Stall reason: {reason}. In "lessons", say in \
one or two sentences what failed and what the new plan does differently. Each step names one \
teammate (one of: {names}). Answer with a JSON object: \
{{"steps": [{{"agent": "...", "action": "..."}}], "lessons": "..."}}."""

PROGRESS = """\
Look at the conversation so far and decide the next move. Answer with one JSON object with \
these five keys, each holding {{"reason": "<one sentence>", "answer": <value>}}:
- is_request_satisfied: true only if the task is fully done and its answer is in the \
conversation (or it has proved impossible);
- is_in_loop: true if the team keeps repeating the same requests or replies;
- is_progress_being_made: false if the last rounds brought nothing new or hit a wall;
- next_speaker: the teammate to act next, one of: {names};
- instruction_or_question: the exact, self-contained instruction for that teammate."""

FINAL_ANSWER = """\
The work on this task is over:

{task}

From the conversation, give the final answer. If it could not be fully established, give \
your best answer and say briefly what is uncertain.{answer_format}"""

FINAL_ANSWER_AGAIN = """\
That is not the final answer: {reason}. The work is over. Reply now with the answer to the \
task itself (a value, a name or a short sentence), taken from the conversation."""

ANSWER_FORMAT_PREFIX = "\n\nFormat of the answer: "

BUDGET_NOTE = "(The run stopped early: {reason}. Answer with the best you have.)"

TRANSCRIPT_OMITTED = """\
[{count} earlier messages of this attempt are left out to save space; the facts and plan \
above hold what they established.]"""
