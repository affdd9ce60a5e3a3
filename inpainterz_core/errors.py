"""One exception type for everything a user can act on.

The CLI and the server turn an ``InpainterzError`` into one clear line (and a
non-zero exit or an error reply); anything else is a bug and keeps its traceback.
"""


class InpainterzError(Exception):
    """A problem with the user's input, files or setup, with a message that says what to do."""

    #: Machine-readable code, reused by the server's error replies.
    code = "error"


class InputError(InpainterzError):
    code = "bad_input"


class MissingWeightsError(InpainterzError):
    code = "missing_weights"


class Cancelled(InpainterzError):
    code = "cancelled"
