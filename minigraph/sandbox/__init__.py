"""``theano.sandbox``: the parts of Theano's sandbox that user programs import.

Only :mod:`.rng_mrg` (``MRG_RandomStreams``, the MRG31k3p random streams most tutorials use)
and the multinomial ops behind it live here; Theano's other sandbox modules were
experiments that programs do not reach for.
"""
