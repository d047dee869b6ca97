//! Dynamic int8 quantization of dense layers, on libtorch's own int8 matrix multiply (`_int_mm`, oneDNN on CPU).
//!
//! Weights are quantized once, symmetrically per output channel (`w ≈ s_w[n] · q_w[n, k]`, `q_w` in -127..=127).
//! Activations are quantized at every call, symmetrically per row (per token: `x ≈ s_x[m] · q_x[m, k]`), which
//! follows outliers in single tokens better than one scale per batch. The int32 accumulator is rescaled by
//! `s_x[m] · s_w[n]` and the fp32 bias is added, so the layer's input and output stay fp32.

use tch::{Kind, Tensor};

use crate::error::{Error, Result};

/// The largest magnitude of a symmetric int8 code (-128 is not used, so that negation is exact).
const QMAX: f64 = 127.0;

/// A dense layer `x W^T + b` with int8 weights.
#[derive(Debug)]
pub(crate) struct Int8Linear {
    /// `[in, out]` int8 codes: a transposed view of the `[out, in]` contiguous codes, the layout `_int_mm` takes.
    weight_t: Tensor,
    /// `[out]` fp32 scale of each output channel.
    scale: Tensor,
    /// `[out]` fp32.
    bias: Tensor,
}

impl Int8Linear {
    /// Quantizes an fp32 `[out, in]` weight and `[out]` bias (they are not modified).
    pub(crate) fn quantize(weight: &Tensor, bias: &Tensor) -> Result<Int8Linear> {
        if weight.kind() != Kind::Float || bias.kind() != Kind::Float {
            return Err(Error::Unsupported(format!(
                "int8 quantization starts from f32 weights, not {:?}",
                weight.kind()
            )));
        }
        let _guard = tch::no_grad_guard();
        let weight = weight.detach();
        // A channel of zeros keeps scale 1 (its codes are 0 either way).
        let amax = weight.abs().amax([1].as_slice(), false);
        let scale = amax.where_scalarother(&amax.gt(0.0), QMAX) / QMAX;
        let codes = (weight / scale.unsqueeze(1)).round().clamp(-QMAX, QMAX).to_kind(Kind::Int8).contiguous();
        Ok(Int8Linear { weight_t: codes.tr(), scale, bias: bias.detach().copy() })
    }

    /// Concatenates several layers' output channels (same input width), e.g. query, key and value, so that one
    /// quantization of the input and one matrix multiply serve all of them.
    pub(crate) fn concat(parts: &[Int8Linear]) -> Int8Linear {
        let codes: Vec<Tensor> = parts.iter().map(|p| p.weight_t.tr()).collect();
        let scales: Vec<&Tensor> = parts.iter().map(|p| &p.scale).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|p| &p.bias).collect();
        Int8Linear {
            weight_t: Tensor::cat(&codes, 0).contiguous().tr(),
            scale: Tensor::cat(&scales, 0),
            bias: Tensor::cat(&biases, 0),
        }
    }

    /// The output width.
    pub(crate) fn out_features(&self) -> i64 {
        self.scale.size()[0]
    }

    /// `x` is fp32 `[..., in]`; returns fp32 `[..., out]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Tensor {
        let mut shape = x.size();
        let width = *shape.last().expect("a linear layer's input has at least one dimension");
        let rows = x.reshape([-1, width]);
        let amax = rows.abs().amax([1].as_slice(), true);
        // Rows of zeros (padding) get scale 1 and codes 0.
        let x_scale = amax.where_scalarother(&amax.gt(0.0), QMAX) / QMAX;
        let codes = (&rows / &x_scale).round_().to_kind(Kind::Int8);
        let mut out = codes.internal_int_mm(&self.weight_t).to_kind(Kind::Float);
        out *= &self.scale;
        out *= &x_scale;
        out += &self.bias;
        *shape.last_mut().expect("checked above") = self.out_features();
        out.view(shape.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosines(a: &Tensor, b: &Tensor) -> Tensor {
        Tensor::cosine_similarity(a, b, -1, 1e-12)
    }

    #[test]
    fn int8_linear_is_close_to_fp32_and_fused_parts_equal_separate_ones() {
        let (x, w1, b1, w2, b2) = crate::seeded(3, || {
            (
                Tensor::randn([3, 7, 64], (Kind::Float, tch::Device::Cpu)),
                Tensor::randn([48, 64], (Kind::Float, tch::Device::Cpu)),
                Tensor::randn([48], (Kind::Float, tch::Device::Cpu)),
                Tensor::randn([32, 64], (Kind::Float, tch::Device::Cpu)),
                Tensor::randn([32], (Kind::Float, tch::Device::Cpu)),
            )
        });
        let exact = x.linear(&w1, Some(&b1));
        let q1 = Int8Linear::quantize(&w1, &b1).unwrap();
        let approx = q1.forward(&x);
        assert_eq!(approx.size(), vec![3, 7, 48]);
        let min_cos = cosines(&approx, &exact).min().double_value(&[]);
        assert!(min_cos > 0.999, "per-row cosine {min_cos}");
        // Not exact either: quantization does change the numbers.
        assert!(!approx.allclose(&exact, 0.0, 1e-6, false), "int8 gave fp32's numbers exactly");

        let q2 = Int8Linear::quantize(&w2, &b2).unwrap();
        let fused = Int8Linear::concat(&[Int8Linear::quantize(&w1, &b1).unwrap(), q2]).forward(&x);
        let separate = Tensor::cat(&[approx, Int8Linear::quantize(&w2, &b2).unwrap().forward(&x)], -1);
        assert!(fused.allclose(&separate, 0.0, 1e-5, false));

        // Zero rows (padding) stay finite and give the bias.
        let zeros = Tensor::zeros([2, 64], (Kind::Float, tch::Device::Cpu));
        let out = Int8Linear::quantize(&w1, &b1).unwrap().forward(&zeros);
        assert!(out.allclose(&b1.unsqueeze(0).expand([2, 48], false), 0.0, 1e-6, false));
        assert!(Int8Linear::quantize(&w1.to_kind(Kind::BFloat16), &b1).is_err());
    }
}
