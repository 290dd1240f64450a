//! The training spec (SPEC.json): parsing and validation in CONTRACT.md's order and wording.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::data::Dataset;
use crate::error::{read_file, Error};

/// Top-level keys in canonical order.
const TOP_KEYS: [&str; 11] = [
    "spec_version",
    "dataset",
    "layers",
    "hidden_activation",
    "output",
    "init",
    "optimizer",
    "batch_size",
    "max_epochs",
    "target_accuracy",
    "dtype",
];

/// Bound on a network's weights and biases, and on the activations of one pass (samples x
/// units): fewer than 2^31 each, so that no buffer is too large to allocate.
pub const MAX_ELEMENTS: u128 = 1 << 31;

/// The longest spec file read (1 MiB; the shipped specs are under 1 KiB): reading stops there,
/// so an endless or huge file named as the spec is one error line, not a hang.
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// Activation of the hidden layers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// max(0, z).
    Relu,
    /// z if z > 0 else alpha * z.
    LeakyRelu(f32),
}

/// Output layer and cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// p = softmax(z), cost -log p[y].
    SoftmaxCrossEntropy,
    /// a = sigmoid(z), cost sum_j (a_j - y_j)^2.
    SigmoidMse,
}

/// Where the initial weights come from.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// He-normal weights from a seeded generator, zero biases.
    HeNormal { seed: u64 },
    /// A safetensors model file (path resolved against the spec's folder).
    File(PathBuf),
}

/// A validated spec.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The spec file as given.
    pub path: PathBuf,
    /// sha256 of the file's bytes, lowercase hex.
    pub sha256: String,
    /// dataset.name.
    pub dataset_name: String,
    /// dataset.dir, resolved against the spec's folder.
    pub dataset_dir: PathBuf,
    /// Layer sizes, input first.
    pub layers: Vec<usize>,
    /// Hidden activation.
    pub hidden: Activation,
    /// Output layer and cost.
    pub output: Output,
    /// Initial weights.
    pub init: Init,
    /// SGD learning rate.
    pub learning_rate: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Epoch limit.
    pub max_epochs: usize,
    /// Target test accuracy, compared as `correct > target * test_samples` in f64.
    pub target_accuracy: f64,
}

/// Validation context: the spec path as displayed in messages.
struct Checker {
    path: String,
}

impl Checker {
    /// A bad-value error for `field`.
    fn bad(&self, field: &str, rule: &str, got: &Value) -> Error {
        Error::BadValue {
            path: self.path.clone(),
            field: field.to_string(),
            rule: rule.to_string(),
            got: compact(got),
        }
    }

    /// Checks an object's keys: unknown ones first (file order), then missing ones (given order).
    fn keys(&self, obj: &Map<String, Value>, allowed: &[&str], place: &str) -> Result<(), Error> {
        if let Some(key) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(Error::UnknownKey {
                path: self.path.clone(),
                key: key.clone(),
                place: place.to_string(),
                allowed: allowed.join(", "),
            });
        }
        match allowed.iter().find(|k| !obj.contains_key(**k)) {
            Some(key) => Err(Error::MissingKey {
                path: self.path.clone(),
                key: key.to_string(),
                place: place.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// The value as an object, or a bad-value error.
    fn object<'a>(&self, field: &str, v: &'a Value) -> Result<&'a Map<String, Value>, Error> {
        v.as_object().ok_or_else(|| self.bad(field, "an object", v))
    }

    /// A non-empty string.
    fn text(&self, field: &str, v: &Value) -> Result<String, Error> {
        match v.as_str() {
            Some(s) if !s.is_empty() => Ok(s.to_string()),
            _ => Err(self.bad(field, "a non-empty string", v)),
        }
    }

    /// A JSON integer >= 1 (not 1.0, not true).
    fn positive(&self, field: &str, v: &Value) -> Result<usize, Error> {
        match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(n),
            _ => Err(self.bad(field, "a positive integer", v)),
        }
    }

    /// A JSON number (integer or float, not a boolean).
    fn number(
        &self,
        field: &str,
        rule: &str,
        v: &Value,
        ok: impl Fn(f64) -> bool,
    ) -> Result<f64, Error> {
        match v.as_f64() {
            Some(x) if ok(x) => Ok(x),
            _ => Err(self.bad(field, rule, v)),
        }
    }

    /// Checks a tagged object {kind, ...}: keys (allowed by its kind), then the kind; returns it.
    fn tagged<'a>(
        &self,
        place: &str,
        obj: &'a Map<String, Value>,
        kinds: &[(&'static str, &[&'static str])],
    ) -> Result<&'a str, Error> {
        let found = obj.get("kind").and_then(Value::as_str).and_then(|k| {
            kinds
                .iter()
                .find(|(name, _)| *name == k)
                .map(|kk| (k, kk.1))
        });
        match found {
            Some((kind, keys)) => {
                self.keys(obj, keys, place)?;
                Ok(kind)
            }
            None => {
                let mut all: Vec<&str> = Vec::new();
                for key in kinds.iter().flat_map(|(_, keys)| keys.iter()) {
                    if !all.contains(key) {
                        all.push(key);
                    }
                }
                if let Err(e @ Error::UnknownKey { .. }) = self.keys(obj, &all, place) {
                    return Err(e);
                }
                let names: Vec<String> = kinds.iter().map(|(n, _)| format!("\"{n}\"")).collect();
                match obj.get("kind") {
                    None => Err(Error::MissingKey {
                        path: self.path.clone(),
                        key: "kind".to_string(),
                        place: place.to_string(),
                    }),
                    Some(v) => Err(self.bad(&format!("{place}.kind"), &names.join(" or "), v)),
                }
            }
        }
    }
}

/// A JSON value as compact text (`[256,10]`, `"tanh"`, `-0.1`).
fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Resolves `p` against the folder holding the spec (joined, not canonicalised).
fn resolve(spec: &Path, p: &str) -> PathBuf {
    spec.parent().unwrap_or(Path::new("")).join(p)
}

impl Spec {
    /// Reads and validates a spec file.
    pub fn load(path: &Path) -> Result<Spec, Error> {
        let shown = path.display().to_string();
        let bytes = read_file(path, &shown, Some(MAX_SPEC_BYTES))?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(Error::SpecTooLarge {
                path: shown,
                limit: MAX_SPEC_BYTES,
            });
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| Error::NotJson {
            path: shown.clone(),
            line: e.line(),
            column: e.column(),
        })?;
        let sha256 = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Spec::from_value(path, &value, sha256)
    }

    /// Checks the spec against the loaded data: layers[0] must be the pixels of each image, and
    /// one pass over the largest of a training batch and the test set must hold fewer than 2^31
    /// activations (samples x the sum of layers).
    pub fn check_against_data(&self, data: &Dataset) -> Result<(), Error> {
        let bad = |field: &str, rule: String, got: String| Error::BadValue {
            path: self.path.display().to_string(),
            field: field.into(),
            rule,
            got,
        };
        let pixels = data.rows * data.cols;
        if self.layers[0] != pixels {
            let rule = format!(
                "{pixels} (the {}x{} pixels of each image)",
                data.rows, data.cols
            );
            return Err(bad("layers[0]", rule, self.layers[0].to_string()));
        }
        let (train, test) = (data.train.labels.len(), data.test.labels.len());
        let rows = self.batch_size.min(train).max(test) as u128;
        let units = (MAX_ELEMENTS - 1) / rows;
        let total = self.layers.iter().map(|&n| n as u128).sum::<u128>();
        if total > units {
            let rule = format!(
                "at most {units} units in all for passes of {rows} samples \
                 (fewer than 2^31 activations)"
            );
            let got = serde_json::to_string(&self.layers).unwrap_or_default();
            return Err(bad("layers", rule, got));
        }
        Ok(())
    }

    /// Validates a parsed spec document.
    pub fn from_value(path: &Path, value: &Value, sha256: String) -> Result<Spec, Error> {
        let c = Checker {
            path: path.display().to_string(),
        };
        let top = value.as_object().ok_or_else(|| Error::NotObject {
            path: c.path.clone(),
        })?;
        c.keys(top, &TOP_KEYS, "the spec")?;

        let v = &top["spec_version"];
        if v.as_u64() != Some(1) {
            return Err(c.bad("spec_version", "1", v));
        }

        let dataset = c.object("dataset", &top["dataset"])?;
        c.keys(dataset, &["name", "dir"], "dataset")?;
        let dataset_name = c.text("dataset.name", &dataset["name"])?;
        let dataset_dir = resolve(path, &c.text("dataset.dir", &dataset["dir"])?);

        let layers = parse_layers(&c, &top["layers"])?;
        let hidden = parse_activation(&c, &top["hidden_activation"])?;

        let v = &top["output"];
        let output = match v.as_str() {
            Some("softmax_cross_entropy") => Output::SoftmaxCrossEntropy,
            Some("sigmoid_mse") => Output::SigmoidMse,
            _ => return Err(c.bad("output", "\"softmax_cross_entropy\" or \"sigmoid_mse\"", v)),
        };

        let init = parse_init(&c, path, &top["init"])?;

        let optimizer = c.object("optimizer", &top["optimizer"])?;
        c.keys(optimizer, &["kind", "learning_rate"], "optimizer")?;
        if optimizer["kind"].as_str() != Some("sgd") {
            return Err(c.bad("optimizer.kind", "\"sgd\"", &optimizer["kind"]));
        }
        let learning_rate = c.number(
            "optimizer.learning_rate",
            "a finite number > 0",
            &optimizer["learning_rate"],
            |x| x.is_finite() && x > 0.0,
        )?;

        let batch_size = c.positive("batch_size", &top["batch_size"])?;
        let max_epochs = c.positive("max_epochs", &top["max_epochs"])?;
        let target_accuracy = c.number(
            "target_accuracy",
            "a number in (0, 1]",
            &top["target_accuracy"],
            |x| x > 0.0 && x <= 1.0,
        )?;
        if top["dtype"].as_str() != Some("f32") {
            return Err(c.bad("dtype", "\"f32\"", &top["dtype"]));
        }

        Ok(Spec {
            path: path.to_path_buf(),
            sha256,
            dataset_name,
            dataset_dir,
            layers,
            hidden,
            output,
            init,
            learning_rate,
            batch_size,
            max_epochs,
            target_accuracy,
        })
    }
}

/// `layers`: a list of >= 2 positive integers whose last is 10, fewer than 2^31 parameters.
fn parse_layers(c: &Checker, v: &Value) -> Result<Vec<usize>, Error> {
    let rule = "a list of at least 2 positive integers";
    let items = v
        .as_array()
        .filter(|a| a.len() >= 2)
        .ok_or_else(|| c.bad("layers", rule, v))?;
    let mut layers = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        layers.push(c.positive(&format!("layers[{i}]"), item)?);
    }
    let last = layers.len() - 1;
    if layers[last] != 10 {
        return Err(c.bad(
            &format!("layers[{last}]"),
            "10 (one output per digit class)",
            &items[last],
        ));
    }
    let parameters = layers.windows(2).fold(0u128, |sum, pair| {
        sum.saturating_add(pair[1] as u128 * (pair[0] as u128 + 1))
    });
    if parameters >= MAX_ELEMENTS {
        return Err(c.bad("layers", "fewer than 2^31 weights and biases in all", v));
    }
    Ok(layers)
}

/// `hidden_activation`: {kind: "relu"} or {kind: "leaky_relu", alpha in [0, 1)}.
fn parse_activation(c: &Checker, v: &Value) -> Result<Activation, Error> {
    let obj = c.object("hidden_activation", v)?;
    let kind = c.tagged(
        "hidden_activation",
        obj,
        &[("relu", &["kind"]), ("leaky_relu", &["kind", "alpha"])],
    )?;
    match kind {
        "relu" => Ok(Activation::Relu),
        _ => {
            let alpha = c.number(
                "hidden_activation.alpha",
                "a number in [0, 1)",
                &obj["alpha"],
                |x| (0.0..1.0).contains(&x),
            )?;
            Ok(Activation::LeakyRelu(alpha as f32))
        }
    }
}

/// `init`: {kind: "he_normal", seed in [0, 2^63)} or {kind: "file", path: non-empty string}.
fn parse_init(c: &Checker, spec: &Path, v: &Value) -> Result<Init, Error> {
    let obj = c.object("init", v)?;
    let kind = c.tagged(
        "init",
        obj,
        &[
            ("he_normal", &["kind", "seed"]),
            ("file", &["kind", "path"]),
        ],
    )?;
    match kind {
        "he_normal" => {
            let seed = &obj["seed"];
            match seed.as_u64() {
                Some(s) if s < (1u64 << 63) => Ok(Init::HeNormal { seed: s }),
                _ => Err(c.bad("init.seed", "an integer in [0, 2^63)", seed)),
            }
        }
        _ => Ok(Init::File(resolve(
            spec,
            &c.text("init.path", &obj["path"])?,
        ))),
    }
}
