"""PushGen core: briefs to ranked push-notification candidates, and labels back.

Nothing heavy is imported here: torch and transformers load only when a generator or a
reward model is built.
"""

__version__ = "0.1.0"
