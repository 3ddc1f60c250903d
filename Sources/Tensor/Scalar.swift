// The element types kernels are written for, once, as generics specialised for Float and Double.
import BLAS
import Foundation

/// `Float` or `Double`, with the elementary functions the kernels need.
protocol TensorScalar: GEMMScalar {
    static var dtype: DType { get }
    static func exponential(_ x: Self) -> Self
    static func logarithm(_ x: Self) -> Self
    static func power(_ x: Self, _ p: Self) -> Self
}

extension Float: TensorScalar {
    static var dtype: DType { .float32 }
    @inline(__always) static func exponential(_ x: Float) -> Float { Foundation.exp(x) }
    @inline(__always) static func logarithm(_ x: Float) -> Float { Foundation.log(x) }
    @inline(__always) static func power(_ x: Float, _ p: Float) -> Float { Foundation.pow(x, p) }
}

extension Double: TensorScalar {
    static var dtype: DType { .float64 }
    @inline(__always) static func exponential(_ x: Double) -> Double { Foundation.exp(x) }
    @inline(__always) static func logarithm(_ x: Double) -> Double { Foundation.log(x) }
    @inline(__always) static func power(_ x: Double, _ p: Double) -> Double { Foundation.pow(x, p) }
}

/// Tensors above this many elements are split across the compute threads.
let parallelThreshold = 1 << 15
