"""A scripted model that plays a whole team through a small computing task.

It decides from what it sees, like a model would: it plans, asks the Coder for code, asks
the ComputerTerminal to run it, and answers with the number the real run printed. Used by
the README's quick start and by the end-to-end tests.

    python -m magentic.testing --demo        # serves it and prints the base URL
"""

from __future__ import annotations

import re

from magentic.testing import roles
from magentic.testing.replies import Reply
from magentic.testing.server import ChatRequest

DEMO_TASK = "What is the sum of the squares of the first 25 prime numbers?"

_CODE = """\
Here is a program that finds the primes and sums their squares:

```python
def primes(count):
    found = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return found

numbers = primes(25)
print("RESULT:", sum(n * n for n in numbers))
```
"""


def demo_script(request: ChatRequest) -> Reply:
    step = roles.phase(request)
    if step == "coder":
        return Reply.text(_CODE)
    if step in ("facts", "replan_facts"):
        return roles.facts(
            given_or_verified=["We need the first 25 primes, squared and summed."],
            to_derive=["The sum itself, by running code."],
        )
    if step in ("plan", "replan_plan"):
        return roles.plan(
            ("Coder", "Write a program that prints the sum."),
            ("ComputerTerminal", "Run it and report the output."),
        )
    if step == "progress":
        team = roles.team_names(request)
        ran = roles.last_from(request, "ComputerTerminal")
        if ran is not None and "RESULT:" in ran:
            return roles.progress(satisfied=True, reason="the terminal printed the result")
        if roles.last_from(request, "Coder") is None or "ComputerTerminal" not in team:
            if roles.last_from(request, "Coder") is not None:
                return roles.progress(satisfied=True, reason="the code is written")
            return roles.progress(
                "Coder",
                "Write a Python program that prints the sum of the "
                "squares of the first 25 primes, labelled RESULT:.",
            )
        return roles.progress("ComputerTerminal", "Run the Coder's program.")
    if step == "final":
        ran = roles.last_from(request, "ComputerTerminal") or ""
        match = re.search(r"RESULT:\s*(\d+)", ran)
        if match:
            return Reply.text(f"The sum is {match.group(1)}.\nFINAL ANSWER: {match.group(1)}")
        return Reply.text("The code was written but not run, so the sum is unknown.")
    return Reply.text("I am a scripted demo model and did not expect this request.")
