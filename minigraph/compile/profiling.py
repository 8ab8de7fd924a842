"""``profile=True``: per-node run times and which rewrites fired, as a readable summary."""

import sys

import numpy as np


class ProfileStats:
    """Collected by a function compiled with ``profile=True``; see :meth:`summary`."""

    def __init__(self, name, linked, rewrite_stats, rewrite_time, compile_time):
        self.name = name
        self.linked = linked
        self.rewrite_stats = rewrite_stats
        self.rewrite_time = rewrite_time
        self.compile_time = compile_time
        self.n_calls = 0
        self.call_time = 0.0

    def record_call(self, seconds):
        self.n_calls += 1
        self.call_time += seconds

    def node_times(self):
        """List of (seconds, node) over all calls, slowest first."""
        times = self.linked.profile
        return sorted(zip(times.tolist(), self.linked.order), key=lambda p: -p[0])

    def summary(self, file=None, n_nodes=15):
        """Print the summary (to ``file``, default stdout); also returns it as text."""
        lines = [f"Function profile: {self.name or '<unnamed>'}",
                 f"  compile: {self.compile_time * 1e3:.1f} ms "
                 f"(rewrites {self.rewrite_time * 1e3:.1f} ms)",
                 f"  calls: {self.n_calls}, total {self.call_time * 1e3:.2f} ms, "
                 f"{self.call_time / max(self.n_calls, 1) * 1e6:.1f} us/call"]
        total = float(np.sum(self.linked.profile)) or 1e-12
        lines.append(f"  nodes ({len(self.linked.order)}), slowest first:")
        lines.append(f"    {'time %':>7} {'seconds':>10}  op  (user line)")
        for t, node in self.node_times()[:n_nodes]:
            lines.append(f"    {100 * t / total:6.1f}% {t:10.6f}  {node.op}  ({node.trace})")
        fired = {k: v for k, v in self.rewrite_stats.items() if v[0]}
        lines.append("  rewrites that fired: " + (", ".join(
            f"{k} x{v[0]}" for k, v in sorted(fired.items())) or "none"))
        text = "\n".join(lines)
        print(text, file=file or sys.stdout)
        return text
