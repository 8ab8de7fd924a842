"""LLVM operations that Numba's Python does not spell, as Numba intrinsics for float32 and
float64 loop code: bit casts, ``select``, fused multiply-add, ``copysign`` and writing an
integer into the exponent field.

They exist for ``kernels/vecmath.py`` (and the generated kernels calling it): each is one
LLVM instruction or intrinsic that the loop vectoriser widens, where the Python spelling
would branch (a conditional expression makes three basic blocks), widen (Numba computes
``int32 + int32`` in int64) or round twice (``a * b + c``). An argument of another type
is a typing error, never a silent conversion.
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["int_bits_as_float", "float_bits_as_int", "exponent_bits", "select", "fma",
           "copysign"]


@intrinsic
def int_bits_as_float(typingctx, bits):
    """Reinterpret an int32 as float32 or an int64 as float64 (no conversion)."""
    result = {types.int32: types.float32, types.int64: types.float64}.get(bits)
    if result is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(result))

    return result(bits), codegen


@intrinsic
def float_bits_as_int(typingctx, x):
    """Reinterpret a float32 as int32 or a float64 as int64 (no conversion)."""
    result = {types.float32: types.int32, types.float64: types.int64}.get(x)
    if result is None:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(result))

    return result(x), codegen


@intrinsic
def exponent_bits(typingctx, x):
    """The float whose bits are ``x``'s mantissa bits shifted into the exponent field: for
    ``x = 1.5 * 2^23 + n`` (float32; ``2^52`` for float64), ``0 <= n < 255``, that is
    ``2^(n - 127)``. Integer ops in LLVM's own width (Numba would widen int32 to int64)."""
    if x not in (types.float32, types.float64):
        return None
    bits = 23 if x == types.float32 else 52

    def codegen(context, builder, signature, args):
        ftype = context.get_value_type(x)
        itype = ir.IntType(64 if bits == 52 else 32)
        shifted = builder.shl(builder.bitcast(args[0], itype), ir.Constant(itype, bits))
        return builder.bitcast(shifted, ftype)

    return x(x), codegen


@intrinsic
def select(typingctx, cond, a, b):
    """``a if cond else b`` as one LLVM ``select``: both sides are computed anyway, and a
    conditional expression would make three basic blocks, which Numba's passes (SSA,
    typing) pay for superlinearly in a long kernel."""
    if not isinstance(cond, types.Boolean) or a != b:
        return None

    def codegen(context, builder, signature, args):
        return builder.select(args[0], args[1], args[2])

    return a(cond, a, b), codegen


def _llvm_call(name, ftype, args):
    """(signature, codegen) of an intrinsic calling LLVM's ``llvm.{name}`` on floats of one
    type, or None (no match: Numba then reports the typing error) for other arguments."""
    if ftype not in (types.float32, types.float64) or any(a != ftype for a in args):
        return None

    def codegen(context, builder, signature, llargs):
        t = context.get_value_type(ftype)
        fn = builder.module.declare_intrinsic(f"llvm.{name}", [t],
                                              ir.FunctionType(t, [t] * len(args)))
        return builder.call(fn, llargs)

    return ftype(*args), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """``a * b + c``, one fused multiply-add where the CPU has one (LLVM's ``fmuladd``)."""
    return _llvm_call("fmuladd", a, (a, b, c))


@intrinsic
def copysign(typingctx, a, b):
    """``|a|`` with the sign bit of ``b`` (NaN included)."""
    return _llvm_call("copysign", a, (a, b))

