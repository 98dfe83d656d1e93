//! The hand networks' convolutions together with the element-wise step after them (ReLU6, or a
//! residual add then PReLU), which the generated code (`tools/hand-codegen`) calls in place of
//! the two or three separate ops. With the `fused` feature (which needs the vendored burn-flex)
//! they run on the `flex` CPU backend as one pass over the output
//! (`burn_flex::ops::conv2d_fused`: the same floats as the separate ops, bit for bit); without
//! it, on any other device, or where the convolution does not fit, they are the separate ops.
use burn::nn::PRelu;
use burn::nn::conv::Conv2d;
use burn::prelude::Tensor;

/// `conv.forward(x).clamp(min, max)`.
pub fn conv_clamp(conv: &Conv2d, x: Tensor<4>, min: f64, max: f64) -> Tensor<4> {
    #[cfg(feature = "fused")]
    if let Some(y) = flex::conv_then(conv, &x, || {
        Some(burn_flex::ops::conv2d_fused::Then::Clamp {
            min: min as f32,
            max: max as f32,
        })
    }) {
        return y;
    }
    conv.forward(x).clamp(min, max)
}

/// `prelu.forward(residual.add(conv.forward(x)))`, the palm detector's residual blocks.
pub fn conv_add_prelu(conv: &Conv2d, x: Tensor<4>, residual: Tensor<4>, prelu: &PRelu) -> Tensor<4> {
    #[cfg(feature = "fused")]
    if let Some(y) = flex::conv_then(conv, &x, || {
        Some(burn_flex::ops::conv2d_fused::Then::AddPRelu {
            residual: flex::primitive(&residual)?,
            alpha: flex::primitive(&prelu.alpha.val())?,
        })
    }) {
        return y;
    }
    prelu.forward(residual.add(conv.forward(x)))
}

#[cfg(feature = "fused")]
mod flex {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2d;
    use burn::prelude::Tensor;
    use burn::tensor::ops::ConvOptions;
    use burn_flex::ops::conv2d_fused::{Then, conv2d_then};
    use burn_flex::{Flex, FlexTensor};

    /// The flex tensor under `t`, if it lives on the flex backend (not autodiff).
    pub(super) fn primitive<const D: usize>(t: &Tensor<D>) -> Option<FlexTensor> {
        t.clone().try_into_primitive::<Flex>().ok()
    }

    /// `conv` on `x` followed by `then()`, fused, when every tensor is a flex tensor and the
    /// padding is explicit (as burn-onnx writes it); `None` otherwise.
    pub(super) fn conv_then(conv: &Conv2d, x: &Tensor<4>, then: impl FnOnce() -> Option<Then>) -> Option<Tensor<4>> {
        let padding = match conv.padding {
            PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
            PaddingConfig2d::Valid => [(0, 0), (0, 0)],
            // `Same` depends on the input size; burn's own conv2d works it out.
            PaddingConfig2d::Same => return None,
        };
        let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
        let x = primitive(x)?;
        let weight = primitive(&conv.weight.val())?;
        let bias = match &conv.bias {
            Some(b) => Some(primitive(&b.val())?),
            None => None,
        };
        let y = conv2d_then(x, weight, bias, options, then()?);
        Some(Tensor::from_primitive::<Flex>(y))
    }
}
