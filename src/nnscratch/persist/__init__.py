"""Files that outlive a process: the safe archive and its one scheme of a JSON header plus
arrays (``archive``), how a model lies in it (``layout``), model files (``modelfile``:
``save``/``load``) and training checkpoints (``checkpoint``). Loading never runs code.
"""
