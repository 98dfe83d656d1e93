// Generated from ONNX "asl-core/models/hand/hand_landmark_lite.onnx" by burn-onnx
extern crate alloc;
use burn::prelude::*;
use burn::nn::Linear;
use burn::nn::LinearConfig;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::nn::conv::Conv2dConfig;
use burn::nn::pool::MaxPool2d;
use burn::nn::pool::MaxPool2dConfig;


#[derive(Module, Debug)]
pub struct Model {
    conv2d1: Conv2d,
    conv2d2: Conv2d,
    conv2d3: Conv2d,
    conv2d4: Conv2d,
    maxpool2d1: MaxPool2d,
    conv2d5: Conv2d,
    conv2d6: Conv2d,
    conv2d7: Conv2d,
    conv2d8: Conv2d,
    conv2d9: Conv2d,
    conv2d10: Conv2d,
    conv2d11: Conv2d,
    conv2d12: Conv2d,
    conv2d13: Conv2d,
    conv2d14: Conv2d,
    conv2d15: Conv2d,
    conv2d16: Conv2d,
    conv2d17: Conv2d,
    conv2d18: Conv2d,
    conv2d19: Conv2d,
    conv2d20: Conv2d,
    conv2d21: Conv2d,
    conv2d22: Conv2d,
    conv2d23: Conv2d,
    conv2d24: Conv2d,
    conv2d25: Conv2d,
    conv2d26: Conv2d,
    conv2d27: Conv2d,
    conv2d28: Conv2d,
    conv2d29: Conv2d,
    conv2d30: Conv2d,
    conv2d31: Conv2d,
    conv2d32: Conv2d,
    conv2d33: Conv2d,
    conv2d34: Conv2d,
    conv2d35: Conv2d,
    conv2d36: Conv2d,
    conv2d37: Conv2d,
    conv2d38: Conv2d,
    conv2d39: Conv2d,
    conv2d40: Conv2d,
    conv2d41: Conv2d,
    conv2d42: Conv2d,
    conv2d43: Conv2d,
    conv2d44: Conv2d,
    conv2d45: Conv2d,
    conv2d46: Conv2d,
    conv2d47: Conv2d,
    linear1: Linear,
    linear2: Linear,
    linear3: Linear,
    linear4: Linear,
    #[module(skip)]
    device: Device,
}

impl Model {
    #[allow(unused_variables)]
    pub fn new(device: &Device) -> Self {
        let conv2d1 = Conv2dConfig::new([3, 24], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d2 = Conv2dConfig::new([24, 24], [3, 3])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_dilation([1, 1])
            .with_groups(24)
            .with_bias(true)
            .init(device);
        let conv2d3 = Conv2dConfig::new([24, 16], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d4 = Conv2dConfig::new([16, 64], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let maxpool2d1 = MaxPool2dConfig::new([2, 2])
            .with_strides([2, 2])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_ceil_mode(false)
            .init();
        let conv2d5 = Conv2dConfig::new([64, 64], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
            .with_dilation([1, 1])
            .with_groups(64)
            .with_bias(true)
            .init(device);
        let conv2d6 = Conv2dConfig::new([64, 16], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d7 = Conv2dConfig::new([16, 96], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d8 = Conv2dConfig::new([96, 96], [3, 3])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_dilation([1, 1])
            .with_groups(96)
            .with_bias(true)
            .init(device);
        let conv2d9 = Conv2dConfig::new([96, 16], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d10 = Conv2dConfig::new([16, 96], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d11 = Conv2dConfig::new([96, 96], [5, 5])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 2, 2))
            .with_dilation([1, 1])
            .with_groups(96)
            .with_bias(true)
            .init(device);
        let conv2d12 = Conv2dConfig::new([96, 24], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d13 = Conv2dConfig::new([24, 144], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d14 = Conv2dConfig::new([144, 144], [5, 5])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_dilation([1, 1])
            .with_groups(144)
            .with_bias(true)
            .init(device);
        let conv2d15 = Conv2dConfig::new([144, 24], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d16 = Conv2dConfig::new([24, 144], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d17 = Conv2dConfig::new([144, 144], [3, 3])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(0, 0, 1, 1))
            .with_dilation([1, 1])
            .with_groups(144)
            .with_bias(true)
            .init(device);
        let conv2d18 = Conv2dConfig::new([144, 48], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d19 = Conv2dConfig::new([48, 288], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d20 = Conv2dConfig::new([288, 288], [3, 3])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_dilation([1, 1])
            .with_groups(288)
            .with_bias(true)
            .init(device);
        let conv2d21 = Conv2dConfig::new([288, 48], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d22 = Conv2dConfig::new([48, 288], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d23 = Conv2dConfig::new([288, 288], [3, 3])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_dilation([1, 1])
            .with_groups(288)
            .with_bias(true)
            .init(device);
        let conv2d24 = Conv2dConfig::new([288, 48], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d25 = Conv2dConfig::new([48, 288], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d26 = Conv2dConfig::new([288, 288], [5, 5])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_dilation([1, 1])
            .with_groups(288)
            .with_bias(true)
            .init(device);
        let conv2d27 = Conv2dConfig::new([288, 64], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d28 = Conv2dConfig::new([64, 384], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d29 = Conv2dConfig::new([384, 384], [5, 5])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_dilation([1, 1])
            .with_groups(384)
            .with_bias(true)
            .init(device);
        let conv2d30 = Conv2dConfig::new([384, 64], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d31 = Conv2dConfig::new([64, 384], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d32 = Conv2dConfig::new([384, 384], [5, 5])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_dilation([1, 1])
            .with_groups(384)
            .with_bias(true)
            .init(device);
        let conv2d33 = Conv2dConfig::new([384, 64], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d34 = Conv2dConfig::new([64, 384], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d35 = Conv2dConfig::new([384, 384], [5, 5])
            .with_stride([2, 2])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 2, 2))
            .with_dilation([1, 1])
            .with_groups(384)
            .with_bias(true)
            .init(device);
        let conv2d36 = Conv2dConfig::new([384, 112], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d37 = Conv2dConfig::new([112, 672], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d38 = Conv2dConfig::new([672, 672], [5, 5])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_dilation([1, 1])
            .with_groups(672)
            .with_bias(true)
            .init(device);
        let conv2d39 = Conv2dConfig::new([672, 112], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d40 = Conv2dConfig::new([112, 672], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d41 = Conv2dConfig::new([672, 672], [5, 5])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_dilation([1, 1])
            .with_groups(672)
            .with_bias(true)
            .init(device);
        let conv2d42 = Conv2dConfig::new([672, 112], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d43 = Conv2dConfig::new([112, 672], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d44 = Conv2dConfig::new([672, 672], [5, 5])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(2, 2, 2, 2))
            .with_dilation([1, 1])
            .with_groups(672)
            .with_bias(true)
            .init(device);
        let conv2d45 = Conv2dConfig::new([672, 112], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d46 = Conv2dConfig::new([112, 672], [1, 1])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Valid)
            .with_dilation([1, 1])
            .with_groups(1)
            .with_bias(true)
            .init(device);
        let conv2d47 = Conv2dConfig::new([672, 672], [3, 3])
            .with_stride([1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_dilation([1, 1])
            .with_groups(672)
            .with_bias(true)
            .init(device);
        let linear1 = LinearConfig::new(672, 1).with_bias(true).init(device);
        let linear2 = LinearConfig::new(672, 1).with_bias(true).init(device);
        let linear3 = LinearConfig::new(672, 63).with_bias(true).init(device);
        let linear4 = LinearConfig::new(672, 63).with_bias(true).init(device);
        Self {
            conv2d1,
            conv2d2,
            conv2d3,
            conv2d4,
            maxpool2d1,
            conv2d5,
            conv2d6,
            conv2d7,
            conv2d8,
            conv2d9,
            conv2d10,
            conv2d11,
            conv2d12,
            conv2d13,
            conv2d14,
            conv2d15,
            conv2d16,
            conv2d17,
            conv2d18,
            conv2d19,
            conv2d20,
            conv2d21,
            conv2d22,
            conv2d23,
            conv2d24,
            conv2d25,
            conv2d26,
            conv2d27,
            conv2d28,
            conv2d29,
            conv2d30,
            conv2d31,
            conv2d32,
            conv2d33,
            conv2d34,
            conv2d35,
            conv2d36,
            conv2d37,
            conv2d38,
            conv2d39,
            conv2d40,
            conv2d41,
            conv2d42,
            conv2d43,
            conv2d44,
            conv2d45,
            conv2d46,
            conv2d47,
            linear1,
            linear2,
            linear3,
            linear4,
            device: device.clone(),
        }
    }

    #[allow(clippy::let_and_return, clippy::approx_constant)]
    pub fn forward(
        &self,
        input_1: Tensor<4>,
    ) -> (Tensor<2>, Tensor<2>, Tensor<2>, Tensor<2>) {
        let clip1_out1 = crate::hand::fused::conv_clamp(&self.conv2d1, input_1, 0f64, 6f64);
        let clip2_out1 = crate::hand::fused::conv_clamp(&self.conv2d2, clip1_out1, 0f64, 6f64);
        let conv2d3_out1 = self.conv2d3.forward(clip2_out1);
        let clip3_out1 = crate::hand::fused::conv_clamp(&self.conv2d4, conv2d3_out1.clone(), 0f64, 6f64);
        let maxpool2d1_out1 = self.maxpool2d1.forward(conv2d3_out1);
        let clip4_out1 = crate::hand::fused::conv_clamp(&self.conv2d5, clip3_out1, 0f64, 6f64);
        let conv2d6_out1 = self.conv2d6.forward(clip4_out1);
        let add1_out1 = conv2d6_out1.add(maxpool2d1_out1);
        let clip5_out1 = crate::hand::fused::conv_clamp(&self.conv2d7, add1_out1.clone(), 0f64, 6f64);
        let clip6_out1 = crate::hand::fused::conv_clamp(&self.conv2d8, clip5_out1, 0f64, 6f64);
        let conv2d9_out1 = self.conv2d9.forward(clip6_out1);
        let add2_out1 = conv2d9_out1.add(add1_out1);
        let clip7_out1 = crate::hand::fused::conv_clamp(&self.conv2d10, add2_out1, 0f64, 6f64);
        let clip8_out1 = crate::hand::fused::conv_clamp(&self.conv2d11, clip7_out1, 0f64, 6f64);
        let conv2d12_out1 = self.conv2d12.forward(clip8_out1);
        let clip9_out1 = crate::hand::fused::conv_clamp(&self.conv2d13, conv2d12_out1.clone(), 0f64, 6f64);
        let clip10_out1 = crate::hand::fused::conv_clamp(&self.conv2d14, clip9_out1, 0f64, 6f64);
        let conv2d15_out1 = self.conv2d15.forward(clip10_out1);
        let add3_out1 = conv2d15_out1.add(conv2d12_out1);
        let clip11_out1 = crate::hand::fused::conv_clamp(&self.conv2d16, add3_out1, 0f64, 6f64);
        let clip12_out1 = crate::hand::fused::conv_clamp(&self.conv2d17, clip11_out1, 0f64, 6f64);
        let conv2d18_out1 = self.conv2d18.forward(clip12_out1);
        let clip13_out1 = crate::hand::fused::conv_clamp(&self.conv2d19, conv2d18_out1.clone(), 0f64, 6f64);
        let clip14_out1 = crate::hand::fused::conv_clamp(&self.conv2d20, clip13_out1, 0f64, 6f64);
        let conv2d21_out1 = self.conv2d21.forward(clip14_out1);
        let add4_out1 = conv2d21_out1.add(conv2d18_out1);
        let clip15_out1 = crate::hand::fused::conv_clamp(&self.conv2d22, add4_out1.clone(), 0f64, 6f64);
        let clip16_out1 = crate::hand::fused::conv_clamp(&self.conv2d23, clip15_out1, 0f64, 6f64);
        let conv2d24_out1 = self.conv2d24.forward(clip16_out1);
        let add5_out1 = conv2d24_out1.add(add4_out1);
        let clip17_out1 = crate::hand::fused::conv_clamp(&self.conv2d25, add5_out1, 0f64, 6f64);
        let clip18_out1 = crate::hand::fused::conv_clamp(&self.conv2d26, clip17_out1, 0f64, 6f64);
        let conv2d27_out1 = self.conv2d27.forward(clip18_out1);
        let clip19_out1 = crate::hand::fused::conv_clamp(&self.conv2d28, conv2d27_out1.clone(), 0f64, 6f64);
        let clip20_out1 = crate::hand::fused::conv_clamp(&self.conv2d29, clip19_out1, 0f64, 6f64);
        let conv2d30_out1 = self.conv2d30.forward(clip20_out1);
        let add6_out1 = conv2d30_out1.add(conv2d27_out1);
        let clip21_out1 = crate::hand::fused::conv_clamp(&self.conv2d31, add6_out1.clone(), 0f64, 6f64);
        let clip22_out1 = crate::hand::fused::conv_clamp(&self.conv2d32, clip21_out1, 0f64, 6f64);
        let conv2d33_out1 = self.conv2d33.forward(clip22_out1);
        let add7_out1 = conv2d33_out1.add(add6_out1);
        let clip23_out1 = crate::hand::fused::conv_clamp(&self.conv2d34, add7_out1, 0f64, 6f64);
        let clip24_out1 = crate::hand::fused::conv_clamp(&self.conv2d35, clip23_out1, 0f64, 6f64);
        let conv2d36_out1 = self.conv2d36.forward(clip24_out1);
        let clip25_out1 = crate::hand::fused::conv_clamp(&self.conv2d37, conv2d36_out1.clone(), 0f64, 6f64);
        let clip26_out1 = crate::hand::fused::conv_clamp(&self.conv2d38, clip25_out1, 0f64, 6f64);
        let conv2d39_out1 = self.conv2d39.forward(clip26_out1);
        let add8_out1 = conv2d39_out1.add(conv2d36_out1);
        let clip27_out1 = crate::hand::fused::conv_clamp(&self.conv2d40, add8_out1.clone(), 0f64, 6f64);
        let clip28_out1 = crate::hand::fused::conv_clamp(&self.conv2d41, clip27_out1, 0f64, 6f64);
        let conv2d42_out1 = self.conv2d42.forward(clip28_out1);
        let add9_out1 = conv2d42_out1.add(add8_out1);
        let clip29_out1 = crate::hand::fused::conv_clamp(&self.conv2d43, add9_out1.clone(), 0f64, 6f64);
        let clip30_out1 = crate::hand::fused::conv_clamp(&self.conv2d44, clip29_out1, 0f64, 6f64);
        let conv2d45_out1 = self.conv2d45.forward(clip30_out1);
        let add10_out1 = conv2d45_out1.add(add9_out1);
        let clip31_out1 = crate::hand::fused::conv_clamp(&self.conv2d46, add10_out1, 0f64, 6f64);
        let clip32_out1 = crate::hand::fused::conv_clamp(&self.conv2d47, clip31_out1, 0f64, 6f64);
        let reducemean1_out1 = {
            clip32_out1.mean_dim(2usize).mean_dim(3usize).squeeze_dims::<2usize>(&[2, 3])
        };
        let linear1_out1 = self.linear1.forward(reducemean1_out1.clone());
        let sigmoid1_out1 = burn::tensor::activation::sigmoid(linear1_out1);
        let linear2_out1 = self.linear2.forward(reducemean1_out1.clone());
        let sigmoid2_out1 = burn::tensor::activation::sigmoid(linear2_out1);
        let linear3_out1 = self.linear3.forward(reducemean1_out1.clone());
        let linear4_out1 = self.linear4.forward(reducemean1_out1);
        (linear3_out1, sigmoid2_out1, sigmoid1_out1, linear4_out1)
    }
}
