"""Data in: the cat files (read or downloaded), tables, preprocessing.

Imports only ``nnscratch.base``: data knows nothing of networks.
"""
