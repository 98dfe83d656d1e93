//! The 29 classes of the ASL fingerspelling classifier, in the model's output order.

/// Number of classifier outputs.
pub const NUM_CLASSES: usize = 29;

/// Class names in canonical order: the letters "A".."Z" (0..=25), then "del", "nothing", "space".
pub const CLASSES: [&str; NUM_CLASSES] = [
    "A", "B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M", "N", "O", "P", "Q", "R", "S", "T", "U", "V", "W",
    "X", "Y", "Z", "del", "nothing", "space",
];

/// Number of letter classes (they come first).
pub const NUM_LETTERS: usize = 26;
/// Index of "del": deletes the previous character.
pub const DEL: usize = 26;
/// Index of "nothing": no hand sign, ignored.
pub const NOTHING: usize = 27;
/// Index of "space": ends a word.
pub const SPACE: usize = 28;

/// Index of a class by name, case-insensitive ("a", "A", "Space", "DEL").
pub fn class_index(name: &str) -> Option<usize> {
    CLASSES.iter().position(|c| c.eq_ignore_ascii_case(name))
}

/// True for the letter classes A..Z.
pub fn is_letter(idx: usize) -> bool {
    idx < NUM_LETTERS
}

/// The letter of a letter class (`'A'` for 0), `None` for del/nothing/space and out of range.
pub fn letter_char(idx: usize) -> Option<char> {
    // idx < 26, so the cast cannot truncate.
    is_letter(idx).then(|| char::from(b'A' + idx as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indices() {
        assert_eq!(class_index("a"), Some(0));
        assert_eq!(class_index("Z"), Some(25));
        assert_eq!(class_index("DEL"), Some(DEL));
        assert_eq!(class_index("Nothing"), Some(NOTHING));
        assert_eq!(class_index("space"), Some(SPACE));
        assert_eq!(class_index("?"), None);
        assert!(is_letter(25) && !is_letter(DEL));
        assert_eq!(letter_char(7), Some('H'));
        assert_eq!(letter_char(SPACE), None);
        for (i, name) in CLASSES.iter().enumerate() {
            assert_eq!(class_index(name), Some(i));
        }
    }
}
