// CRD's noise-contrastive term for negative pairs, fused: `log(c / (exp(s/T)/Z + c + 1e-7))` of
// every score `s` of a `[B, K]` matrix (K negatives per anchor; `c = K / N` the noise mass).
// One pass forward and one backward over the 2 million scores of a batch instead of a dozen; a
// recorded backward uses ordinary ops, so it can be differentiated again.
import Foundation
import Parallel

/// The term's constants: temperature `T`, normaliser `Z`, noise mass `c`.
public struct NoiseContrast: Equatable, Sendable {
    /// `T`, dividing each score before the exponential.
    public var temperature: Double
    /// `Z`, dividing `exp(s/T)` (CRD's fixed normalising constant).
    public var normalizer: Double
    /// `c = K / N`, the noise mass of K negatives among N dataset rows.
    public var noise: Double

    /// The constants `T`, `Z` and `c`.
    public init(temperature: Double, normalizer: Double, noise: Double) {
        (self.temperature, self.normalizer, self.noise) = (temperature, normalizer, noise)
    }
}

/// Values `log(c / (P + c'))` and the derivative factors `-(P / T) / (P + c')`, with `P = exp(s/T) / Z`
/// and `c' = c + 1e-7`. `log(P + c')` is `log(c') + log1p(P / c')`, and `log1p(x)` its cubic series
/// below `x = 1e-3` (error under `x^4 / 4`, far below float rounding), where almost every
/// negative's `P` lies: one exponential per score instead of an exponential and a logarithm.
private func noiseContrastKernel<T: TensorScalar>(_: T.Type, _ s: Tensor, _ out: Tensor, _ factor: Tensor, _ k: NoiseContrast) {
    let (ps, po, pf) = (SendablePointer(base: s.pointer(T.self)), SendablePointer(base: out.pointer(T.self)),
                        SendablePointer(base: factor.pointer(T.self)))
    let (scale, z, c) = (T(1 / k.temperature), T(1 / k.normalizer), T(k.noise + 1e-7))
    let shift = T(Foundation.log(k.noise) - Foundation.log(k.noise + 1e-7)), inverse = 1 / c
    parallelRanges(s.count, workers: s.count >= parallelThreshold ? ComputeThreads.count : 1) { _, range in
        for i in range {
            let p = T.exponential(ps.base[i] * scale) * z
            let x = p * inverse
            po.base[i] = shift - (x < 1e-3 ? x * (1 - x * (0.5 - x / 3)) : T.logarithm(1 + x))
            pf.base[i] = -p * scale / (p + c)
        }
    }
}

extension Tensor {
    /// `log(c / (exp(s / T) / Z + c + 1e-7))` elementwise, for the constants `k`.
    public static func noiseContrast(_ s: Tensor, _ k: NoiseContrast) -> Tensor {
        let (out, factor) = (Tensor(uninitializedShape: s.shape, dtype: s.dtype), Tensor(uninitializedShape: s.shape, dtype: s.dtype))
        switch s.dtype {
        case .float32: noiseContrastKernel(Float.self, s, out, factor, k)
        case .float64: noiseContrastKernel(Double.self, s, out, factor, k)
        }
        return out.recorded(.noiseContrast(k), [s], saved: [factor])
    }

    /// The gradient of `noiseContrast` times `g`: `g` times the factors the forward pass saved, or,
    /// when recording, `-g (P / T) / (P + c + 1e-7)` with `P = exp(s / T) / Z` in ordinary ops.
    static func noiseContrastGradient(_ s: Tensor, _ k: NoiseContrast, factor: Tensor, upstream g: Tensor) -> Tensor {
        guard !GradMode.isRecording else {
            let p = (s / k.temperature).exp() / k.normalizer
            return -g * (p / k.temperature) / (p + (k.noise + 1e-7))
        }
        return g * factor
    }
}
