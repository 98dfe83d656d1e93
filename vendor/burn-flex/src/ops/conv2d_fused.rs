//! A 2D convolution with the element-wise step that follows it applied as its outputs are
//! written: ReLU6 (`clamp(0, 6)`) after a convolution, or a residual add then PReLU. A model
//! written with burn's ops does each of those as one more pass over the whole output; MediaPipe's
//! hand networks have one after almost every convolution (32 clamps over 5.4 M floats in the
//! landmark model; 30 adds and 31 PReLUs over 6 M in the palm detector, 28 of them add → PReLU).
//!
//! [`conv2d_then`] gives the same floats as the separate ops (each step is the same
//! operation on the same values in the same order) and falls back to them where the forward
//! pass does not run the depthwise or GEMM kernels.

use burn_backend::ops::{ActivationOps, ConvOptions, FloatTensorOps, ModuleOps};
use burn_backend::{DType, Scalar};
use burn_std::Shape;

use super::{conv2d_depthwise, conv2d_direct, conv2d_gemm, conv2d_winograd};
use crate::{Flex, FlexTensor};

/// Which kernels run a 2D convolution's forward pass (`ModuleOps::conv2d`).
pub(crate) enum ForwardPath {
    Depthwise,
    Winograd,
    Direct,
    Gemm,
    Generic,
}

pub(crate) fn forward_path(x: &FlexTensor, weight: &FlexTensor, options: &ConvOptions<2>) -> ForwardPath {
    if conv2d_depthwise::supported(x, weight, options) {
        return ForwardPath::Depthwise;
    }
    if conv2d_winograd::supported(x, weight, options) {
        return ForwardPath::Winograd;
    }
    // 1×1 layers: the GEMM is faster forward (`conv2d_gemm::pointwise`); the backward passes
    // keep the direct kernels.
    if conv2d_direct::supported(x, weight, options) && !conv2d_gemm::pointwise(weight, options) {
        return ForwardPath::Direct;
    }
    if conv2d_gemm::supported(x, weight, options) {
        return ForwardPath::Gemm;
    }
    ForwardPath::Generic
}

/// What follows the convolution.
#[derive(Debug, Clone)]
pub enum Then {
    /// `y.clamp(min, max)` (burn's `Tensor::clamp`; ReLU6 is `Clamp { min: 0.0, max: 6.0 }`).
    Clamp { min: f32, max: f32 },
    /// `prelu(residual + y, alpha)` (burn's `add` then `activation::prelu`): `residual` has the
    /// output's shape, `alpha` holds one slope per output channel or one for all.
    AddPRelu { residual: FlexTensor, alpha: FlexTensor },
}

/// `conv2d(x, weight, bias, options)` followed by `then`, in one pass over the output where
/// the forward pass runs the depthwise kernel (clamp only) or the GEMM.
///
/// # Panics
/// When `x` and `weight` are not 4-D with `x`'s channels = `weight`'s input channels × groups
/// (burn's `conv2d` checks this before the backend sees them; the kernels read by those sizes).
pub fn conv2d_then(
    x: FlexTensor,
    weight: FlexTensor,
    bias: Option<FlexTensor>,
    options: ConvOptions<2>,
    then: Then,
) -> FlexTensor {
    let (xs, ws) = (x.layout().shape(), weight.layout().shape());
    assert!(
        xs.num_dims() == 4 && ws.num_dims() == 4 && xs[1] == ws[1] * options.groups,
        "conv2d_then: input {:?} and weight {:?} do not fit (groups {})",
        xs.to_vec(),
        ws.to_vec(),
        options.groups
    );
    let path = forward_path(&x, &weight, &options);
    match (&path, &then) {
        (ForwardPath::Depthwise, Then::Clamp { min, max }) if clamp_bounds(*min, *max) => {
            return conv2d_depthwise::conv2d_clamped(x, weight, bias, &options, (*min, *max));
        }
        (ForwardPath::Gemm, Then::Clamp { min, max }) if clamp_bounds(*min, *max) => {
            return conv2d_gemm::conv2d_finished(x, weight, bias, &options, &Finish::Clamp { min: *min, max: *max });
        }
        (ForwardPath::Gemm, Then::AddPRelu { residual, alpha }) => {
            let out_channels = weight.layout().shape()[0];
            if residual.dtype() == DType::F32
                && residual.layout().shape().to_vec() == conv2d_gemm::output_shape(&x, &weight, &options)
                && alpha.dtype() == DType::F32
                && (alpha.layout().num_elements() == 1 || alpha.layout().num_elements() == out_channels)
            {
                let (residual, alpha) = (residual.to_contiguous(), alpha.to_contiguous());
                let finish = Finish::AddPRelu {
                    residual: residual.storage(),
                    alpha: alpha.storage(),
                };
                return conv2d_gemm::conv2d_finished(x, weight, bias, &options, &finish);
            }
        }
        _ => {}
    }
    // Separately, as the model's own ops would run.
    let y = Flex::conv2d(x, weight, bias, options);
    match then {
        Then::Clamp { min, max } => Flex::float_clamp(y, Scalar::from(min), Scalar::from(max)),
        Then::AddPRelu { residual, alpha } => {
            let n = alpha.layout().num_elements();
            let alpha = Flex::float_reshape(alpha, Shape::from(if n == 1 { [1, 1, 1, 1] } else { [1, n, 1, 1] }));
            Flex::prelu(Flex::float_add(residual, y), alpha)
        }
    }
}

/// Bounds `f32::clamp` accepts (it panics on min > max; burn's clamp gives NaN for a NaN bound).
fn clamp_bounds(min: f32, max: f32) -> bool {
    min <= max
}

/// What the GEMM path does to each output plane after the matrix product.
pub(crate) enum Finish<'a> {
    /// Add the bias, if any.
    Bias,
    /// The bias, then `clamp(min, max)`.
    Clamp { min: f32, max: f32 },
    /// The bias, then `prelu(residual + y)`, with the residual laid out as the output.
    AddPRelu { residual: &'a [f32], alpha: &'a [f32] },
}

impl Finish<'_> {
    /// Finishes output plane `plane` of channel `c`, whose first float is element `at` of the
    /// whole output. Each step is the operation burn's op would apply, in the same order.
    #[inline]
    pub(crate) fn plane(&self, plane: &mut [f32], bias: Option<f32>, c: usize, at: usize) {
        #[cfg(target_arch = "x86_64")]
        if super::conv2d_direct::cpu_has_kernels() {
            // SAFETY: AVX2 and FMA are available.
            return unsafe { self.plane_avx2(plane, bias, c, at) };
        }
        self.plane_any(plane, bias, c, at)
    }

    /// [`Finish::plane`] compiled for AVX2: 8 lanes per instruction where the baseline build
    /// has SSE2's 4 (the pass was ~6 % of a word's time). The same operations in the same
    /// order, so the same bits: Rust never contracts a multiply and an add into an FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn plane_avx2(&self, plane: &mut [f32], bias: Option<f32>, c: usize, at: usize) {
        self.plane_any(plane, bias, c, at)
    }

    #[inline(always)]
    fn plane_any(&self, plane: &mut [f32], bias: Option<f32>, c: usize, at: usize) {
        // Without a bias nothing is added (adding 0.0 would turn −0.0 into +0.0).
        let biased = |v: f32| bias.map_or(v, |b| v + b);
        match self {
            Finish::Bias => {
                if let Some(b) = bias {
                    plane.iter_mut().for_each(|v| *v += b);
                }
            }
            Finish::Clamp { min, max } => plane.iter_mut().for_each(|v| *v = biased(*v).clamp(*min, *max)),
            Finish::AddPRelu { residual, alpha } => {
                let a = if alpha.len() == 1 { alpha[0] } else { alpha[c] };
                let residual = &residual[at..at + plane.len()];
                for (v, &r) in plane.iter_mut().zip(residual) {
                    let x = r + biased(*v);
                    *v = if x >= 0.0 { x } else { a * x };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv2d_gemm::f32_tensor;
    use alloc::format;
    use alloc::vec::Vec;

    fn tensor(shape: &[usize], seed: u32) -> FlexTensor {
        let n: usize = shape.iter().product();
        // Values around zero, a few exact zeros and negative zeros, some past 6, and rare NaNs
        // and infinities (which the fused steps must pass on as the separate ops do).
        let data: Vec<f32> = (0..n as u32)
            .map(|i| {
                let h = (i.wrapping_mul(2_654_435_761) ^ seed.wrapping_mul(40_503)) % 2001;
                match (h, h % 97) {
                    (7, _) => f32::NAN,
                    (8, _) => f32::INFINITY,
                    (9, _) => f32::NEG_INFINITY,
                    (_, 0) => 0.0,
                    (_, 1) => -0.0,
                    _ => (h as f32 - 1000.0) / 120.0,
                }
            })
            .collect();
        f32_tensor(data, shape.to_vec())
    }

    /// Each value's bits, every NaN as one: which NaN an operation on two NaNs (or ∞ − ∞)
    /// returns depends on the order of its operands, which the compiler may swap (IEEE 754
    /// leaves it open; the AVX2 build of `Finish::plane` gives other NaNs than the separate ops
    /// on this test's NaN and ∞ inputs). Every other value is compared bit for bit, −0.0
    /// included.
    fn bits(t: FlexTensor) -> Vec<u32> {
        t.to_contiguous()
            .storage::<f32>()
            .iter()
            .map(|v| if v.is_nan() { f32::NAN.to_bits() } else { v.to_bits() })
            .collect()
    }

    fn options(stride: usize, pad: usize, groups: usize) -> ConvOptions<2> {
        ConvOptions::new([stride, stride], [pad, pad], [1, 1], groups)
    }

    /// The fused result against the separate ops, bit for bit, on the layers of the hand
    /// networks: depthwise 3×3 and 5×5 (stride 1 and 2), 1×1, and a dense 3×3 stride-2 stem,
    /// with and without a bias.
    #[test]
    fn fused_equals_the_separate_ops_bit_for_bit() {
        // (batch, c_in, c_out, size, kernel, stride, pad, groups)
        let layers = [
            (1, 24, 24, 28, 3, 1, 1, 24),
            (2, 16, 16, 13, 5, 2, 2, 16),
            (1, 32, 64, 14, 1, 1, 0, 1),
            (2, 48, 40, 7, 1, 1, 0, 1),
            (1, 3, 24, 30, 3, 2, 1, 1),
        ];
        for (k, &(n, ci, co, s, kk, stride, pad, groups)) in layers.iter().enumerate() {
            let x = tensor(&[n, ci, s, s], 1 + k as u32);
            let w = tensor(&[co, ci / groups, kk, kk], 7 + k as u32);
            for bias in [None, Some(tensor(&[co], 13 + k as u32))] {
                let opts = options(stride, pad, groups);
                // Every layer here runs fused (not the fallback, which would pass trivially)
                // where this CPU has the kernels (AVX2 and FMA for the depthwise ones).
                if conv2d_direct::cpu_has_kernels() {
                    let path = forward_path(&x, &w, &opts);
                    assert!(
                        matches!(path, ForwardPath::Depthwise | ForwardPath::Gemm),
                        "layer {k} takes neither kernel"
                    );
                }
                let y = Flex::conv2d(x.clone(), w.clone(), bias.clone(), opts.clone());
                let shape = y.layout().shape().to_vec();
                let what = format!("layer {k}, bias {}", bias.is_some());

                let nans = y.to_contiguous().storage::<f32>().iter().filter(|v| v.is_nan()).count();
                assert!(
                    nans > 0 && nans * 4 < y.layout().num_elements(),
                    "{what}: {nans} NaN outputs"
                );
                let want = Flex::float_clamp(y.clone(), Scalar::from(0.0f32), Scalar::from(6.0f32));
                let got = conv2d_then(
                    x.clone(),
                    w.clone(),
                    bias.clone(),
                    opts.clone(),
                    Then::Clamp { min: 0.0, max: 6.0 },
                );
                assert_eq!(bits(got), bits(want), "clamp, {what}");

                let residual = tensor(&shape, 21 + k as u32);
                for slopes in [co, 1] {
                    let alpha = tensor(&[slopes], 29 + k as u32);
                    let reshaped = Flex::float_reshape(
                        alpha.clone(),
                        Shape::from(if slopes == 1 { [1, 1, 1, 1] } else { [1, co, 1, 1] }),
                    );
                    let want = Flex::prelu(Flex::float_add(residual.clone(), y.clone()), reshaped);
                    let then = Then::AddPRelu {
                        residual: residual.clone(),
                        alpha,
                    };
                    let got = conv2d_then(x.clone(), w.clone(), bias.clone(), opts.clone(), then);
                    assert_eq!(bits(got), bits(want), "add + prelu, {slopes} slopes, {what}");
                }
            }
        }
    }

    /// A residual of another shape, or bounds `f32::clamp` rejects, take the separate ops
    /// (which check and report them) instead of reading out of bounds or panicking here.
    #[test]
    fn mismatched_residual_and_reversed_bounds_take_the_separate_ops() {
        let x = tensor(&[1, 8, 6, 6], 3);
        let w = tensor(&[8, 8, 1, 1], 5);
        let y = Flex::conv2d(x.clone(), w.clone(), None, options(1, 0, 1));
        // A residual broadcast along the rows ([1, 8, 1, 6]) is valid for burn's add.
        let residual = tensor(&[1, 8, 1, 6], 9);
        let alpha = tensor(&[8], 11);
        let reshaped = Flex::float_reshape(alpha.clone(), Shape::from([1, 8, 1, 1]));
        let want = Flex::prelu(Flex::float_add(residual.clone(), y.clone()), reshaped);
        let got = conv2d_then(
            x.clone(),
            w.clone(),
            None,
            options(1, 0, 1),
            Then::AddPRelu { residual, alpha },
        );
        assert_eq!(bits(got), bits(want));
        // NaN bounds: burn's clamp answers NaN everywhere.
        let got = conv2d_then(
            x,
            w,
            None,
            options(1, 0, 1),
            Then::Clamp {
                min: f32::NAN,
                max: 6.0,
            },
        );
        assert!(got.to_contiguous().storage::<f32>().iter().all(|v| v.is_nan()));
    }
}
