//! Short caller-chosen texts (names, ids): 1 to 200 characters without control characters.

/// Longest such text (characters).
pub const MAX_TEXT: usize = 200;

/// True when `s` has 1 to [`MAX_TEXT`] characters and no control character.
pub fn text_ok(s: &str) -> bool {
    (1..=MAX_TEXT).contains(&s.chars().count()) && !s.chars().any(char::is_control)
}

/// Declares a validated text newtype (`parse`, `as_str`, `Display`, serde as a string) whose
/// errors name `$field`.
#[macro_export]
macro_rules! text_name {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(
            Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `s`: 1 to 200 characters, no control characters.
            pub fn parse(s: &str) -> Result<Self, $crate::FieldError> {
                if $crate::text::text_ok(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err($crate::FieldError::new($field, "1 to 200 characters without control characters"))
                }
            }

            /// The value as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s).map_err(|e| e.message)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
    };
}
