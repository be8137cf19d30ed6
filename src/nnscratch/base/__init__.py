"""The bottom layer: what every other layer may use.

``errors`` (the exceptions a user sees), ``validation`` (the one vocabulary of argument checks:
a seed, a dtype, a positive number, an input X), ``atomic`` (files written whole or not at
all), ``batching`` (bounded-memory passes over large inputs) and ``jsonio`` (the one JSON
encoding). Imports nothing of nnscratch.
"""
