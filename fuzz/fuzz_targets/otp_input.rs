//! Fuzzes the OTP request parsers (identity, code of each length and alphabet): never panics,
//! what parses keeps the documented shape and parses again to itself, an error's message
//! is the same whatever the input (it never echoes it).
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_otp::{Code, CodeAlphabet, Identity};

fuzz_target!(|input: (&str, &str, u8, bool)| {
    let (identity, code, len, alnum) = input;
    match Identity::parse(identity, "identity") {
        Ok(i) => {
            assert!((1..=512).contains(&i.as_str().len()));
            assert!(!i.as_str().chars().any(char::is_control));
        }
        // The message is the same whatever was sent: it never echoes the input.
        Err(e) => assert_eq!(e.message, Identity::parse("", "identity").unwrap_err().message),
    }
    let alphabet = if alnum { CodeAlphabet::Alphanumeric } else { CodeAlphabet::Numeric };
    let len = 6 + usize::from(len % 7);
    match Code::parse(code, alphabet, len, "code") {
        Ok(c) => {
            assert_eq!(c.expose().len(), len);
            let again = Code::parse(c.expose(), alphabet, len, "code").unwrap();
            assert_eq!(again.expose(), c.expose());
        }
        Err(e) => {
            let fixed = Code::parse("", alphabet, len, "code").unwrap_err().message;
            assert_eq!(e.message, fixed);
        }
    }
    let fresh = Code::generate(alphabet, len);
    assert!(Code::parse(fresh.expose(), alphabet, len, "code").is_ok());
});
