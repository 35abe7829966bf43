"""The few texts the model client adds to a conversation when it must ask for a shape."""

JSON_REPLY = (
    "Reply with one JSON object and nothing else (no prose, no code fence). "
    "It must fit this JSON schema:\n{schema}"
)

REPAIR_JSON = (
    "That reply could not be used: {reason}. "
    "Send the whole JSON object again, corrected, and nothing else."
)

JSON_ACTION = (
    "You act by choosing one tool. Reply with one JSON object and nothing else:\n"
    '{{"tool": "<tool name>", "arguments": {{...}}}}\n'
    'or, when no tool is needed, {{"answer": "<your reply>"}}.\n'
    "The tools:\n{tools}"
)

REPAIR_TOOL = "That reply could not be used: {reason}. Try again."
