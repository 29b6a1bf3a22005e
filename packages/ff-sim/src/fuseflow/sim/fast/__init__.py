"""The fast engine (``fast.engine.FastEngine``): the reference engine's exact figures,
computed stream by stream. Importing this package loads nothing else: the token codes
(``fast.codes``) are shared with the reference engine's output rebuild."""
