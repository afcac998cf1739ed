//! The YAML writer: what it writes reads back as exactly what it was given.

use gitopsc::serialize::to_yaml;
use serde_json::json;

fn round_trip(value: &serde_json::Value) -> serde_json::Value {
    super::parse_yaml(&to_yaml(value))
}

#[test]
fn tricky_strings_survive() {
    let strings = [
        "",
        " ",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "true",
        "False",
        "null",
        "~",
        "0",
        "007",
        "0o17",
        "0x1F",
        "1e3",
        "1_000",
        "1:30",
        ".5",
        "-1",
        "+1",
        ".inf",
        "-.inf",
        ".nan",
        "2026-11-28",
        "a: b",
        "a #b",
        "#a",
        "-",
        "- a",
        "-a",
        "?",
        "? a",
        "*a",
        "&a",
        "!a",
        "%a",
        "@a",
        "`a",
        "'a'",
        "\"a\"",
        "[a]",
        "{a}",
        "a,b",
        "|",
        ">",
        "a:",
        "trailing ",
        " leading",
        "tab\there",
        "line\nbreak",
        "two\n",
        "three\n\n",
        "\nleading newline",
        "  indented\nblock",
        "crlf\r\nline",
        "grüße 東京",
        "{{ $labels.instance }}",
        "<<",
        "=",
        "\u{7}bell",
        "line \nwith trailing space",
        "é",
    ];
    for s in strings {
        let value = json!({ "key": s, "list": [s], s: "as a key" });
        assert_eq!(
            round_trip(&value),
            value,
            "string {s:?} did not survive:\n{}",
            to_yaml(&value)
        );
    }
}

#[test]
fn structures_survive() {
    let value = json!({
        "empty_map": {}, "empty_list": [], "nested": [[1, 2], [], [{"a": [{}]}]],
        "numbers": [0, -1, 1.5, 18446744073709551615u64, -9223372036854775808i64],
        "bools": [true, false], "null": null,
        "maps_in_lists": [{"a": 1, "b": {"c": [1]}}, {"d": null}],
    });
    assert_eq!(round_trip(&value), value, "\n{}", to_yaml(&value));
}

#[test]
fn multi_line_text_is_a_literal_block() {
    let yaml = to_yaml(&json!({"script": "set -eu\necho hi\n"}));
    assert_eq!(yaml, "script: |\n  set -eu\n  echo hi\n");
}
