"""Files that outlive a process: the safe archive (``archive``), model files (``modelfile``:
``save``/``load``) and training checkpoints (``checkpoint``). Loading never runs code.
"""
