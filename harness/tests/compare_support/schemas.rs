//! The published formats the exports must satisfy, as JSON Schemas.

use serde_json::{Value, json};

/// Bencher's published JSON Schema for BMF (<https://bencher.dev/bmf.json>), as documented on
/// <https://bencher.dev/docs/reference/bencher-metric-format>.
pub fn bmf_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema",
        "type": "object",
        "patternProperties": {".+": {
            "type": "object",
            "patternProperties": {".+": {
                "type": "object",
                "properties": {
                    "value": {"type": "number"},
                    "lower_value": {"type": "number"},
                    "upper_value": {"type": "number"}
                },
                "required": ["value"]
            }}
        }}
    })
}

/// github-action-benchmark's custom tools read an array of `BenchmarkResult`
/// (`src/extract.ts`: `name: string; value: number; range?: string; unit: string;
/// extra?: string`). Stricter than the action: no other keys.
pub fn gab_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema",
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1},
                "value": {"type": "number"},
                "unit": {"type": "string"},
                "range": {"type": "string"},
                "extra": {"type": "string"}
            },
            "required": ["name", "value", "unit"],
            "additionalProperties": false
        }
    })
}
