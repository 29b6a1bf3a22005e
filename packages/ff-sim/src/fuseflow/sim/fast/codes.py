"""Token codes of the streaming queues and writers' records (a coordinate or ref is itself)."""

C_DONE = -1
C_EMPTY = -2
C_R = -3
C_S = -4
C_N = -5
C_VAL = -6
STOP0 = -8  # Sk is STOP0 - k; every code <= STOP0 is a stop
