//! safetensors model files: `layers.{i}.weight` (out, in) row-major and `layers.{i}.bias` (out),
//! float32, the layout of a PyTorch `nn.Linear` stack.
//!
//! Both Rust contenders write a model atomically (CONTRACT.md, *Model files*) with
//! [`write_atomically`]: into a new temporary file in the destination's folder, synced to disk,
//! then renamed over the destination, which must be absent or a regular file (never a symlink,
//! device, FIFO or folder). A failure or a signal removes the temporary file.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    write_atomically(path, |temporary| {
        std::fs::write(temporary, &bytes).map_err(|e| os_reason(&e))
    })
}

/// Why a destination that exists but is not a regular file is refused.
pub const NOT_REGULAR: &str = "not a regular file";

/// The temporary model file that exists right now, if any: removed on a signal.
static PENDING: Mutex<Option<PathBuf>> = Mutex::new(None);

fn set_pending(temporary: Option<PathBuf>) {
    *PENDING.lock().unwrap_or_else(|e| e.into_inner()) = temporary;
}

/// Removes a model file still being written (called when a signal ends the program).
pub fn discard_temporary() {
    if let Some(temporary) = PENDING.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = std::fs::remove_file(temporary);
    }
}

/// Writes a model file at `path` atomically: `write` fills a new temporary file in the same
/// folder (given its path; it returns the reason of a failure), which is then synced and
/// renamed over `path`. `path` must be absent or a regular file, checked before and after the
/// writing. On failure the temporary file is removed and `path` is untouched.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<(), Error> {
    let fail = |reason: String| Error::SaveModel {
        path: path.display().to_string(),
        reason,
    };
    refuse_unless_regular(path).map_err(fail)?;
    let folder = folder_of(path);
    let simple = uuid::Uuid::new_v4().simple().to_string();
    let temporary = folder.join(format!(".mlp-model-{}.tmp", &simple[..16]));
    set_pending(Some(temporary.clone())); // before it exists: a signal from now on removes it
    if let Err(e) = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&temporary)
    {
        set_pending(None);
        return Err(fail(os_reason(&e)));
    }
    let synced = |()| {
        let file = std::fs::File::open(&temporary).map_err(|e| os_reason(&e))?;
        file.sync_all().map_err(|e| os_reason(&e))
    };
    let written = write(&temporary)
        .and_then(synced)
        .and_then(|()| refuse_unless_regular(path))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(|e| os_reason(&e)));
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    set_pending(None);
    written.map_err(fail)?;
    // Make the rename durable (best effort: not every file system syncs a folder).
    if let Ok(dir) = std::fs::File::open(&folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// `Ok` when `path` is absent or a regular file (not following a symlink), else the reason.
fn refuse_unless_regular(path: &Path) -> Result<(), String> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(_) => Err(NOT_REGULAR.to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(os_reason(&e)),
    }
}

/// The folder of `path` as Python's `os.path.dirname` gives it (`.` for a bare name; `a` for
/// `a/`), so that both contenders put the temporary file, and fail, in the same place.
fn folder_of(path: &Path) -> PathBuf {
    let bytes = path.as_os_str().as_bytes();
    let Some(slash) = bytes.iter().rposition(|&b| b == b'/') else {
        return PathBuf::from(".");
    };
    let head = &bytes[..=slash];
    let trimmed = match head.iter().rposition(|&b| b != b'/') {
        Some(last) => &head[..=last],
        None => head, // only slashes: the root
    };
    PathBuf::from(OsStr::from_bytes(trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut found: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        found.sort();
        found
    }

    #[test]
    fn the_folder_of_a_path_is_pythons_dirname() {
        for (path, folder) in [
            ("model.safetensors", "."),
            ("/model", "/"),
            ("a/b", "a"),
            ("a//b", "a"),
            ("a/", "a"),
            ("//x", "//"),
        ] {
            assert_eq!(folder_of(Path::new(path)), PathBuf::from(folder), "{path}");
        }
    }

    #[test]
    fn a_model_replaces_a_regular_file_whole_and_leaves_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, b"earlier").unwrap();
        write_atomically(&path, |t| {
            std::fs::write(t, b"new").map_err(|e| os_reason(&e))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["model.safetensors"]);
    }

    #[test]
    fn a_failing_write_removes_the_temporary_file_and_keeps_the_earlier_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        std::fs::write(&path, b"earlier").unwrap();
        let e = write_atomically(&path, |t| {
            std::fs::write(t, b"half").unwrap();
            Err("No space left on device".to_string())
        })
        .unwrap_err();
        let line = format!(
            "error: {}: cannot write model file: No space left on device",
            path.display()
        );
        assert_eq!(e.to_string(), line);
        assert_eq!(std::fs::read(&path).unwrap(), b"earlier");
        assert_eq!(names(dir.path()), ["model.safetensors"]);
    }

    #[test]
    fn a_symlink_or_a_folder_is_refused_untouched_without_calling_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("earlier");
        std::fs::write(&target, b"earlier").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let folder = dir.path().join("folder");
        std::fs::create_dir(&folder).unwrap();
        for path in [&link, &folder] {
            let e = write_atomically(path, |_| panic!("the writer must not run")).unwrap_err();
            let line = format!(
                "error: {}: cannot write model file: not a regular file",
                path.display()
            );
            assert_eq!(e.to_string(), line);
        }
        assert_eq!(std::fs::read_link(&link).unwrap(), target);
        assert_eq!(std::fs::read(&target).unwrap(), b"earlier");
        assert_eq!(names(dir.path()), ["earlier", "folder", "link"]);
    }
}
