//! Finding the images in an extracted dataset: the training root
//! (`asl_alphabet_train/asl_alphabet_train/<CLASS>/...` in Kaggle's archive, or any folder of
//! class folders), the 29 classes in canonical order matched case-insensitively, and the
//! folders we do not know (reported, not fatal).
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::classes::{CLASSES, NUM_CLASSES, class_index};
use crate::decode::natural_cmp;

/// Whether a file name looks like an image: one of
/// [`photo::IMAGE_EXTENSIONS`](crate::photo::IMAGE_EXTENSIONS) (any case), and not a dot file.
pub fn is_image_name(name: &str) -> bool {
    !name.starts_with('.')
        && Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(crate::photo::is_image_extension)
}

/// Why a folder could not be read as a dataset.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// No folder of class folders within 4 levels of the folder named.
    #[error("{0}: no folder of class folders (A..Z, del, nothing, space) found within 4 levels")]
    NoClasses(PathBuf),
    /// Listing a folder failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// The images of one dataset, grouped by class.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The folder holding the class folders.
    pub train_root: PathBuf,
    /// For each class in canonical order, its image files in natural order.
    pub images: Vec<Vec<PathBuf>>,
    /// Folders under the training root that are not one of the 29 classes.
    pub unknown_folders: Vec<String>,
}

/// How many images one class has.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClassCount {
    /// The class's canonical name (`A`, `del`, …).
    pub class: String,
    /// Its image files.
    pub images: u64,
}

impl Layout {
    /// Images per class, in canonical class order.
    pub fn counts(&self) -> Vec<ClassCount> {
        CLASSES
            .iter()
            .zip(&self.images)
            .map(|(c, v)| ClassCount {
                class: c.to_string(),
                images: v.len() as u64,
            })
            .collect()
    }
    /// Images over all classes.
    pub fn total_images(&self) -> usize {
        self.images.iter().map(Vec::len).sum()
    }
}

/// Class folders directly under `dir`: (class index, path), and the other folders' names.
fn class_children(dir: &Path) -> (Vec<(usize, PathBuf)>, Vec<String>) {
    let mut classes = Vec::new();
    let mut other = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let name = e.file_name().to_string_lossy().to_string();
            match class_index(&name) {
                Some(i) => classes.push((i, e.path())),
                None if name.starts_with('.') || name == "__MACOSX" => {}
                None => other.push(name),
            }
        }
    }
    (classes, other)
}

/// Locate the training root below `dir`: the folder holding the most class folders (ties: the
/// one whose path mentions "train", then the shallowest).
pub fn find_train_root(dir: &Path) -> Result<PathBuf, LayoutError> {
    let mut best: Option<(usize, bool, usize, PathBuf)> = None;
    let mut frontier = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = frontier.pop() {
        let (classes, _) = class_children(&d);
        let n = classes.len();
        if n >= 2 {
            let train = d.to_string_lossy().to_ascii_lowercase().contains("train");
            let better = match &best {
                None => true,
                Some((bn, bt, bd, _)) => (n, train, std::cmp::Reverse(depth)) > (*bn, *bt, std::cmp::Reverse(*bd)),
            };
            if better {
                best = Some((n, train, depth, d.clone()));
            }
        }
        if depth < 4
            && let Ok(rd) = fs::read_dir(&d)
        {
            for e in rd.flatten() {
                let name = e.file_name();
                let hidden = name.to_string_lossy().starts_with('.') || name == "__MACOSX";
                if !hidden
                    && e.file_type().map(|t| t.is_dir()).unwrap_or(false)
                    && class_index(&name.to_string_lossy()).is_none()
                {
                    frontier.push((e.path(), depth + 1));
                }
            }
        }
    }
    best.map(|b| b.3)
        .ok_or_else(|| LayoutError::NoClasses(dir.to_path_buf()))
}

/// Scan a dataset folder (the extracted archive, or a folder of class folders).
pub fn scan(dir: &Path) -> Result<Layout, LayoutError> {
    let train_root = find_train_root(dir)?;
    let (classes, unknown_folders) = class_children(&train_root);
    let mut images = vec![Vec::new(); NUM_CLASSES];
    for (idx, path) in classes {
        let rd = fs::read_dir(&path).map_err(|source| LayoutError::Io {
            path: path.clone(),
            source,
        })?;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if e.file_type().map(|t| t.is_file()).unwrap_or(false) && is_image_name(&name) {
                images[idx].push(e.path());
            }
        }
    }
    for v in &mut images {
        v.sort_by(|a, b| natural_cmp(&a.to_string_lossy(), &b.to_string_lossy()));
    }
    let mut unknown_folders = unknown_folders;
    unknown_folders.sort();
    Ok(Layout {
        train_root,
        images,
        unknown_folders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_kaggle_layout_and_reports_unknown() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("asl_alphabet_train/asl_alphabet_train");
        for c in ["A", "b", "Del", "NOTHING", "space"] {
            fs::create_dir_all(root.join(c)).unwrap();
            for i in [1, 2, 10] {
                fs::write(root.join(c).join(format!("{c}{i}.jpg")), b"x").unwrap();
            }
            fs::write(root.join(c).join(".DS_Store"), b"x").unwrap();
        }
        fs::create_dir_all(root.join("extra")).unwrap();
        let test = d.path().join("asl_alphabet_test/asl_alphabet_test");
        fs::create_dir_all(&test).unwrap();
        fs::write(test.join("A_test.jpg"), b"x").unwrap();
        let l = scan(d.path()).unwrap();
        assert_eq!(l.train_root, root);
        assert_eq!(l.images[0].len(), 3);
        assert_eq!(l.images[1].len(), 3, "case-insensitive class match");
        assert_eq!(l.images[26].len(), 3);
        assert_eq!(l.unknown_folders, vec!["extra".to_string()]);
        let names: Vec<_> = l.images[0]
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["A1.jpg", "A2.jpg", "A10.jpg"]);
        assert_eq!(l.total_images(), 15);
    }

    #[test]
    fn no_classes_is_an_error() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir_all(d.path().join("x/y")).unwrap();
        assert!(matches!(scan(d.path()), Err(LayoutError::NoClasses(_))));
    }
}
