"""Token codes of columnar streams (see col.py), shared with the compiled loops."""

C_DONE = -1
C_EMPTY = -2
C_R = -3
C_S = -4
C_N = -5
C_VAL = -6
STOP0 = -8  # Sk is STOP0 - k; every code <= STOP0 is a stop
