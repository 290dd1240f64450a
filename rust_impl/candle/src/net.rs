//! The network as a candle user writes it: `candle_nn::Linear` layers whose weights live in a
//! `VarMap` under the contract's names (`layers.<i>.weight`, `layers.<i>.bias`), candle's
//! autograd for the gradients, and candle's safetensors support for model files.

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};

use mlp::model::Mlp;
use mlp::spec::{Activation, Output};

/// A multilayer perceptron of `candle_nn::Linear` layers.
pub struct Net {
    /// Every weight and bias, by its model-file name.
    pub varmap: VarMap,
    layers: Vec<Linear>,
    hidden: Activation,
    output: Output,
}

impl Net {
    /// The layers of `sizes` on the CPU, registered in a fresh `VarMap` (candle's own initial
    /// values: callers then load a model file or copy in a model).
    pub fn new(sizes: &[usize], hidden: Activation, output: Output) -> Result<Net> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| candle_nn::linear(pair[0], pair[1], vb.pp(format!("layers.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Net {
            varmap,
            layers,
            hidden,
            output,
        })
    }

    /// Copies the weights and biases of a model of the `mlp` crate (same sizes) into the map.
    pub fn copy_from(&mut self, model: &Mlp) -> Result<()> {
        for (i, (w, b)) in model.weights.iter().zip(&model.biases).enumerate() {
            // nalgebra stores W column-major: W^T's column-major order is W's row-major order.
            let rows = Tensor::from_slice(
                w.transpose().as_slice(),
                (w.nrows(), w.ncols()),
                &Device::Cpu,
            )?;
            self.varmap.set_one(format!("layers.{i}.weight"), rows)?;
            let bias = Tensor::from_slice(b.as_slice(), b.len(), &Device::Cpu)?;
            self.varmap.set_one(format!("layers.{i}.bias"), bias)?;
        }
        Ok(())
    }

    /// Loads a safetensors model file (already checked for names, dtypes and shapes).
    pub fn load(&mut self, path: &Path) -> Result<()> {
        self.varmap.load(path)
    }

    /// Every tensor, float32, as the bytes of a safetensors file (what `VarMap::save` writes;
    /// the `mlp` crate writes them to disk atomically: `VarMap::save` would replace a symlink
    /// or a device at the path, and its own temporary file outlives a signal).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let data = self
            .varmap
            .data()
            .lock()
            .expect("no other thread holds the map");
        let tensors = data.iter().map(|(name, var)| (name, var.as_tensor()));
        Ok(safetensors::tensor::serialize(tensors, None)?)
    }

    /// The output layer's pre-activation z_L of a (samples, inputs) batch.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (last, hidden) = self.layers.split_last().expect("at least one layer");
        let mut a = x.clone();
        for layer in hidden {
            a = self.activate(&layer.forward(&a)?)?;
        }
        last.forward(&a)
    }

    /// The hidden activation max(z, alpha z), with f'(z) = 1 for z > 0 and alpha otherwise.
    ///
    /// Written as z * mask rather than with `Tensor::relu` or `candle_nn::ops::leaky_relu`:
    /// candle's relu has gradient 1 at z = 0 and its leaky_relu (a maximum plus a minimum)
    /// 0.5 + alpha / 2 there, where CONTRACT.md's f'(0) is alpha (0 for relu). The mask
    /// is detached from the graph, so autograd treats it as a constant: the gradient is the mask.
    fn activate(&self, z: &Tensor) -> Result<Tensor> {
        let positive = z.gt(0f32)?.to_dtype(DType::F32)?.detach();
        let slope = match self.hidden {
            Activation::Relu => positive,
            Activation::LeakyRelu(alpha) => {
                let alpha = f64::from(alpha);
                positive.affine(1.0 - alpha, alpha)?
            }
        };
        z * slope
    }

    /// The cost of each sample of the batch, shape (samples,): softmax cross-entropy
    /// `-log softmax(z)[y]` (candle_nn's `cross_entropy` without its mean), or sigmoid_mse
    /// `sum_j (sigmoid(z)_j - onehot(y)_j)^2`. Per sample, so that the batch's loss can be
    /// summed in float64 as CONTRACT.md's train_loss (and divergence check) wants: summed in
    /// float32, the mean of a diverging batch overflows a step before the other contenders'.
    pub fn losses(&self, z: &Tensor, labels: &Tensor) -> Result<Tensor> {
        match self.output {
            Output::SoftmaxCrossEntropy => candle_nn::ops::log_softmax(z, 1)?
                .gather(&labels.unsqueeze(1)?, 1)?
                .squeeze(1)?
                .neg(),
            Output::SigmoidMse => {
                let a = candle_nn::ops::sigmoid(z)?;
                let classes = z.dim(1)?;
                let target = candle_nn::encoding::one_hot(labels.clone(), classes, 1f32, 0f32)?;
                (a - target)?.sqr()?.sum(1)
            }
        }
    }

    /// How many samples' first maximum of z_L is their label (an exact count).
    pub fn count_correct(&self, x: &Tensor, labels: &Tensor) -> Result<usize> {
        // candle's argmax keeps the first of equal maxima (it replaces only on a strict `<`).
        let predicted = self.forward(x)?.argmax(1)?;
        let hits = predicted.eq(labels)?.to_dtype(DType::U32)?.sum_all()?;
        Ok(hits.to_scalar::<u32>()? as usize)
    }
}
