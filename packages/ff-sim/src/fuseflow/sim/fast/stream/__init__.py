"""Streaming evaluation of a kernel: every primitive a compiled step function over bounded
queues, run in turns until all reach D (see docs/fast-engine.md, "Streaming")."""
