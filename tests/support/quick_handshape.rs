//! The handshape model of tests about the plumbing (tests/mlops.rs, tests/model.rs).
use asl::handshape::HandTrainConfig;

/// The hand path is still built (detection, hand cache, handshape model, then kept where it
/// reads the validation photos as well as the CNN), but its MLP trains on the test's own hands
/// and a few prior hands for a few epochs instead of the default ~50,000 rows for 80 epochs
/// (about a minute on 2 cores, paid again by every fresh cache). asl-cli/tests/cli.rs and
/// asl-py/tests/conftest.py write the same settings as JSON.
pub fn quick_handshape() -> HandTrainConfig {
    HandTrainConfig {
        hidden: vec![32],
        epochs: 3,
        augmented_copies: 1,
        prior_samples: 30,
        other_signers_repeat: 0,
        ..Default::default()
    }
}
