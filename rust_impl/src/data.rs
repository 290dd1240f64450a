//! IDX files (MNIST format), raw or gzipped, checked for magic numbers, counts and sizes.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use nalgebra::DMatrix;

use crate::error::{read_file, Error};

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
const LABELS_MAGIC: u32 = 0x0000_0801;

/// One split (train or test) of a dataset.
#[derive(Clone, Debug)]
pub struct Split {
    /// Pixels `p / 255`, one sample per column: (rows*cols) x samples, column-major, so each
    /// image is contiguous, exactly as in the file (and as NumPy's row-major samples x pixels).
    pub images: DMatrix<f32>,
    /// Digit labels, one per column of `images`.
    pub labels: Vec<u8>,
}

/// The four IDX files of a dataset directory.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Training split.
    pub train: Split,
    /// Test split.
    pub test: Split,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
}

/// Raw IDX images: count, rows, cols and the pixel bytes.
struct Images {
    path: String,
    rows: usize,
    cols: usize,
    count: usize,
    pixels: Vec<u8>,
}

impl Dataset {
    /// Loads `train-*` and `t10k-*` images and labels from `dir`.
    pub fn load(dir: &Path) -> Result<Dataset, Error> {
        let train = read_images(dir, "train-images-idx3-ubyte")?;
        let train_labels = read_labels(dir, "train-labels-idx1-ubyte", &train)?;
        let test = read_images(dir, "t10k-images-idx3-ubyte")?;
        let test_labels = read_labels(dir, "t10k-labels-idx1-ubyte", &test)?;
        if (test.rows, test.cols) != (train.rows, train.cols) {
            return Err(Error::ImageSizeMismatch {
                test: test.path,
                test_rows: test.rows,
                test_cols: test.cols,
                train: train.path,
                train_rows: train.rows,
                train_cols: train.cols,
            });
        }
        let (rows, cols) = (train.rows, train.cols);
        Ok(Dataset {
            train: split(train, train_labels),
            test: split(test, test_labels),
            rows,
            cols,
        })
    }
}

/// Scales pixels to `p / 255` (float32) in a (pixels x samples) matrix.
fn split(images: Images, labels: Vec<u8>) -> Split {
    let pixels: Vec<f32> = images
        .pixels
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    Split {
        images: DMatrix::from_vec(images.rows * images.cols, images.count, pixels),
        labels,
    }
}

/// The raw file if present, else `name.gz`; its displayed path and decompressed bytes.
fn read_idx(dir: &Path, name: &str) -> Result<(String, Vec<u8>), Error> {
    let raw = dir.join(name);
    let gz: PathBuf = dir.join(format!("{name}.gz"));
    let (path, zipped) = if raw.is_file() {
        (raw, false)
    } else if gz.is_file() {
        (gz, true)
    } else {
        return Err(Error::DataMissing {
            dir: dir.display().to_string(),
            name: name.to_string(),
        });
    };
    let shown = path.display().to_string();
    let bytes = read_file(&path, &shown, None)?;
    if !zipped {
        return Ok((shown, bytes));
    }
    match gunzip(&bytes) {
        Some(out) => Ok((shown, out)),
        None => Err(Error::BadGzip { path: shown }),
    }
}

/// One or more whole gzip members back to back (RFC 1952, as zcat reads them), nothing else:
/// an empty input, a truncated member, a bad checksum or trailing bytes (even zeros) give None.
fn gunzip(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    MultiGzDecoder::new(bytes).read_to_end(&mut out).ok()?;
    Some(out)
}

/// Big-endian u32 number `i` of the header.
fn header_u32(bytes: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([
        bytes[4 * i],
        bytes[4 * i + 1],
        bytes[4 * i + 2],
        bytes[4 * i + 3],
    ])
}

/// Checks the header length and magic number; returns the payload after the header.
fn check_header<'a>(
    path: &str,
    bytes: &'a [u8],
    header: usize,
    magic: u32,
    kind: &'static str,
) -> Result<&'a [u8], Error> {
    if bytes.len() < header {
        return Err(Error::ShortHeader {
            path: path.to_string(),
            expected: header,
            found: bytes.len(),
        });
    }
    let found = header_u32(bytes, 0);
    if found != magic {
        return Err(Error::BadMagic {
            path: path.to_string(),
            found,
            expected: magic,
            kind,
        });
    }
    Ok(&bytes[header..])
}

/// Checks that the payload holds at least `expected` bytes.
fn check_size(path: &str, payload: &[u8], expected: u128) -> Result<(), Error> {
    if (payload.len() as u128) < expected {
        return Err(Error::Truncated {
            path: path.to_string(),
            expected,
            found: payload.len(),
        });
    }
    Ok(())
}

/// Reads an IDX images file: magic 0x803, count, rows, cols, then the pixels.
fn read_images(dir: &Path, name: &str) -> Result<Images, Error> {
    let (path, bytes) = read_idx(dir, name)?;
    let payload = check_header(&path, &bytes, 16, IMAGES_MAGIC, "IDX images")?;
    let [count, rows, cols] = [1, 2, 3].map(|i| header_u32(&bytes, i) as usize);
    let expected = count as u128 * rows as u128 * cols as u128;
    check_size(&path, payload, expected)?;
    if count == 0 || rows == 0 || cols == 0 {
        return Err(Error::Empty { path });
    }
    let pixels = payload[..count * rows * cols].to_vec();
    Ok(Images {
        path,
        rows,
        cols,
        count,
        pixels,
    })
}

/// Reads an IDX labels file (magic 0x801, count, then one byte 0-9 per label).
fn read_labels(dir: &Path, name: &str, images: &Images) -> Result<Vec<u8>, Error> {
    let (path, bytes) = read_idx(dir, name)?;
    let payload = check_header(&path, &bytes, 8, LABELS_MAGIC, "IDX labels")?;
    let count = header_u32(&bytes, 1) as usize;
    check_size(&path, payload, count as u128)?;
    if count != images.count {
        return Err(Error::CountMismatch {
            labels: path,
            n_labels: count,
            images: images.path.clone(),
            n_images: images.count,
        });
    }
    let labels = &payload[..count];
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, &l)| l > 9) {
        return Err(Error::BadLabel { path, label, index });
    }
    Ok(labels.to_vec())
}
