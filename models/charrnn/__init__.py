"""The character-level RNN ("an AI author") built with minigraph.

`data` turns text files into encoded arrays and minibatches (`corpus` encodes trees of many
books once, for training to memory-map), `checkpoint` stores and restores training state;
both use only NumPy and the standard library, so they can be imported and tested without
the graph framework. Nothing is imported here, so `import models.charrnn.data`
stays cheap.
"""
