"""The few texts the model client adds to a conversation when it must ask for a shape.

Written for small models as much as large ones: a short example of the shape says more
than a schema, and a re-ask says what was wrong in plain words.
"""

JSON_REPLY = (
    "Reply with one JSON object and nothing else (no prose, no code fence), shaped like this "
    "example:\n{example}\nThe exact JSON schema it must fit:\n{schema}"
)

REPAIR_JSON = (
    "That reply could not be used: {reason}. "
    "Send the whole JSON object again, corrected, and nothing else. Its shape:\n{example}"
)

JSON_ACTION = (
    "You act by choosing one tool. Reply with one JSON object and nothing else:\n"
    '{{"tool": "<tool name>", "arguments": {{...}}}}\n'
    'or, when no tool is needed, {{"answer": "<your reply>"}}.\n'
    "The tools:\n{tools}"
)

REPAIR_TOOL = (
    "That reply could not be used: {reason}. Try again with one tool call, for example:\n{example}"
)
