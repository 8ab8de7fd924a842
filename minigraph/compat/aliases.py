"""Where Theano's module paths live in minigraph, when not at the same path.

``theano.X.Y`` maps to ``minigraph.X.Y`` by default (see `minigraph.compat.finder`). This table
lists the exceptions: each Theano module path maps to the minigraph modules searched, in
order, for its names. A name missing from the first module is looked up in the next, which
lets ``theano.tensor.basic`` (a large module in Theano) see all of ``minigraph.tensor``.
Targets that do not exist in this checkout are skipped, so an entry may name a module that
another part of the project has not built yet. `ATTRIBUTES` lists single names minigraph
spells differently (``T.as_tensor`` is ``as_tensor_variable``).
"""

MODULES = {
    # the top level: Theano's own shorthand modules
    # minigraph.compile and minigraph.graph are namespace packages: searched last, so
    # theano.compile.function is the function, as in Theano, not the module of that name
    "theano.compile": ["minigraph.compile.function", "minigraph.compile.mode",
                       "minigraph.compile.sharedvalue", "minigraph.compile.profiling",
                       "minigraph.compile.debugmode", "minigraph.compile.nanguardmode",
                       "minigraph.compile.io", "minigraph.compile.ops",
                       "minigraph.compile.builders", "minigraph.compile"],
    "theano.compile.function_module": ["minigraph.compile.function"],
    "theano.compile.io": ["minigraph.compile.function", "minigraph.compile.io"],
    "theano.compile.builders": ["minigraph.compile.builders"],
    "theano.compile.pfunc": ["minigraph.compile.function"],
    "theano.compile.sharedvalue": ["minigraph.compile.sharedvalue"],
    "theano.compile.mode": ["minigraph.compile.mode"],
    "theano.compile.ops": ["minigraph.compile.ops", "minigraph.tensor"],
    "theano.gof": ["minigraph.graph.basic", "minigraph.graph.op", "minigraph.graph.type",
                   "minigraph.graph.fg", "minigraph.graph"],
    "theano.gof.graph": ["minigraph.graph.basic"],
    "theano.gof.op": ["minigraph.graph.op"],
    "theano.gof.type": ["minigraph.graph.type"],
    "theano.gof.fg": ["minigraph.graph.fg"],
    "theano.scan_module": ["minigraph.scan_module", "minigraph.scan", "minigraph.scan_views"],
    "theano.scan_module.scan": ["minigraph.scan_module.scan", "minigraph.scan"],
    "theano.scan_module.scan_op": ["minigraph.scan.op"],
    "theano.scan_module.scan_utils": ["minigraph.scan.builder", "minigraph.scan"],
    "theano.scan_module.scan_views": ["minigraph.scan_views"],
    "theano.sandbox.rng_mrg": ["minigraph.sandbox.rng_mrg"],
    # theano.tensor's modules
    "theano.tensor.basic": ["minigraph.tensor.basic", "minigraph.tensor"],
    "theano.tensor.var": ["minigraph.tensor.var"],
    "theano.tensor.elemwise": ["minigraph.tensor.elemwise"],
    "theano.tensor.subtensor": ["minigraph.tensor.subtensor"],
    "theano.tensor.opt": ["minigraph.tensor.rewrites", "minigraph.tensor.rewriting"],
    "theano.tensor.nnet.nnet": ["minigraph.tensor.nnet.basic", "minigraph.tensor.nnet.composed",
                                "minigraph.tensor.nnet"],
    "theano.tensor.nnet.sigm": ["minigraph.tensor.nnet.basic", "minigraph.tensor.nnet"],
    "theano.tensor.nnet.conv": ["minigraph.tensor.nnet.conv"],
    "theano.tensor.nnet.abstract_conv": ["minigraph.tensor.nnet.abstract_conv",
                                         "minigraph.tensor.nnet.conv"],
    "theano.tensor.signal.pool": ["minigraph.tensor.signal.pool"],
    "theano.tensor.signal.downsample": ["minigraph.tensor.signal.downsample",
                                        "minigraph.tensor.signal.pool"],
    "theano.tensor.raw_random": ["minigraph.tensor.random"],
    "theano.tensor.shared_randomstreams": ["minigraph.tensor.shared_randomstreams"],
    "theano.tensor.extra_ops": ["minigraph.tensor.extra_ops"],
    "theano.tensor.sort": ["minigraph.tensor.sort", "minigraph.tensor"],
}

# Theano names that minigraph has under another name, with the same meaning: used only when
# the module the program asks does not have the Theano name itself.
ATTRIBUTES = {
    "theano.tensor.as_tensor": "minigraph.tensor.basic:as_tensor_variable",
    "theano.tensor.basic.as_tensor": "minigraph.tensor.basic:as_tensor_variable",
    "theano.tensor.nnet.logsoftmax": "minigraph.tensor.nnet:log_softmax",
    "theano.tensor.nnet.nnet.logsoftmax": "minigraph.tensor.nnet:log_softmax",
    "theano.gof.graph.inputs": "minigraph.graph.basic:graph_inputs",
    "theano.gof.inputs": "minigraph.graph.basic:graph_inputs",
}
