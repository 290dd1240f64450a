//! safetensors model files: `layers.{i}.weight` (out, in) row-major and `layers.{i}.bias` (out),
//! float32, the layout of a PyTorch `nn.Linear` stack.

use std::path::Path;

use nalgebra::{DMatrix, DVector};
use safetensors::tensor::{Dtype, SafeTensorError, TensorView};
use safetensors::SafeTensors;

use crate::error::{os_reason, read_file, Error};
use crate::model::Mlp;
use crate::spec::{Activation, Output};

/// Reads a model whose tensors must match `layers`.
pub fn load(
    path: &Path,
    layers: &[usize],
    hidden: Activation,
    output: Output,
) -> Result<Mlp, Error> {
    let shown = path.display().to_string();
    let bytes = read_file(path, &shown, None)?;
    let file = SafeTensors::deserialize(&bytes).map_err(|_| Error::NotSafetensors {
        path: shown.clone(),
    })?;
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    for (i, pair) in layers.windows(2).enumerate() {
        let (inputs, outputs) = (pair[0], pair[1]);
        let w = tensor(
            &file,
            &shown,
            &format!("layers.{i}.weight"),
            &[outputs, inputs],
        )?;
        weights.push(DMatrix::from_row_slice(outputs, inputs, &w));
        let b = tensor(&file, &shown, &format!("layers.{i}.bias"), &[outputs])?;
        biases.push(DVector::from_vec(b));
    }
    Ok(Mlp {
        weights,
        biases,
        hidden,
        output,
    })
}

/// One float32 tensor of the expected shape, every value finite, in row-major order.
fn tensor(file: &SafeTensors, path: &str, name: &str, shape: &[usize]) -> Result<Vec<f32>, Error> {
    let view = file.tensor(name).map_err(|e| match e {
        SafeTensorError::TensorNotFound(_) => Error::MissingTensor {
            path: path.to_string(),
            name: name.to_string(),
        },
        _ => Error::NotSafetensors {
            path: path.to_string(),
        },
    })?;
    if view.dtype() != Dtype::F32 {
        return Err(Error::TensorDtype {
            path: path.to_string(),
            name: name.to_string(),
            dtype: format!("{:?}", view.dtype()),
        });
    }
    if view.shape() != shape {
        return Err(Error::TensorShape {
            path: path.to_string(),
            name: name.to_string(),
            found: view.shape().to_vec(),
            expected: shape.to_vec(),
        });
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if !values.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite {
            path: path.to_string(),
            name: name.to_string(),
        });
    }
    Ok(values)
}

/// Little-endian bytes of float32 values.
fn le_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(f32::to_le_bytes).collect()
}

/// Writes the model as safetensors.
pub fn save(model: &Mlp, path: &Path) -> Result<(), Error> {
    let fail = |reason: String| Error::SaveModel {
        path: path.display().to_string(),
        reason,
    };
    let mut buffers = Vec::new();
    for (i, (w, b)) in model.weights.iter().zip(&model.biases).enumerate() {
        // nalgebra stores W column-major; the file wants (out, in) row-major: walk W^T's columns.
        let rows = le_bytes(w.transpose().iter().copied());
        buffers.push((
            format!("layers.{i}.weight"),
            vec![w.nrows(), w.ncols()],
            rows,
        ));
        buffers.push((
            format!("layers.{i}.bias"),
            vec![b.len()],
            le_bytes(b.iter().copied()),
        ));
    }
    let mut views = Vec::new();
    for (name, shape, data) in &buffers {
        let view =
            TensorView::new(Dtype::F32, shape.clone(), data).map_err(|e| fail(e.to_string()))?;
        views.push((name.clone(), view));
    }
    let bytes = safetensors::serialize(views, None).map_err(|e| fail(e.to_string()))?;
    std::fs::write(path, bytes).map_err(|e| fail(os_reason(&e)))
}
