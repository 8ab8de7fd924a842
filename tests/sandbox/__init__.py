"""Tests of minigraph.sandbox: the MRG31k3p generator, MRG_RandomStreams, the multinomial ops."""
