//! The JSON Schema of the policy file, for editors (`portcullis schema`).

/// The JSON Schema (draft 2020-12) of `portcullis.yaml`.
pub fn json_schema() -> serde_json::Value {
    let strings =
        serde_json::json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]});
    let duration = serde_json::json!({"type": "string", "pattern": "^\\s*\\d+\\s*[a-zA-Z]+(\\s*\\d+\\s*[a-zA-Z]+)*\\s*$", "description": "a duration: 30s, 12h, 7d, 2w"});
    let threshold = serde_json::json!({"type": "string", "pattern": "^\\s*(>=|<=|==|!=|>|<|=)\\s*-?[0-9.]+(e-?[0-9]+)?\\s*%?\\s*$", "description": "an operator and a number, like \">= 0.85\""});
    let serve = serde_json::json!({
        "type": "object", "additionalProperties": false,
        "description": "how predictions are obtained: an HTTP inference server (url + protocol) or a JSON-lines process (command)",
        "oneOf": [{"required": ["url", "protocol"]}, {"required": ["command"]}],
        "properties": {
            "protocol": {"enum": ["kserve-v2", "mlflow"]},
            "url": {"type": "string", "pattern": "^https?://"},
            "command": {"type": "array", "minItems": 1, "items": {"type": "string"}},
            "model_name": {"type": "string"},
            "input": {"type": "string", "description": "v2 input tensor name (default input)"},
            "output": {"type": "string", "description": "v2 output holding probabilities"},
            "timeout": duration,
            "batch_size": {"type": "integer", "minimum": 1},
            "retries": {"type": "integer", "minimum": 0},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "classes": {"type": "array", "items": {"type": ["integer", "string"]}},
            "n_features": {"type": "integer", "minimum": 1}
        }
    });
    let model = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["path"],
        "properties": {"path": {"type": "string"}, "kind": {"type": "string"}, "serve": serve}
    });
    let signer = serde_json::json!({
        "type": "object", "additionalProperties": false, "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "key": {"type": "string", "description": "public key PEM (ed25519 or ECDSA P-256)"},
            "keys": {"type": "array", "items": {"type": "string"}},
            "roles": strings
        }
    });
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://portcullis.dev/schema/policy-v1.json",
        "title": "portcullis policy",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "stages"],
        "properties": {
            "version": {"const": 1},
            "model": model,
            "reference": model,
            "data": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": false, "required": ["path"],
                "properties": {
                    "path": {"type": "string"}, "label": {"type": "string"},
                    "sensitive": strings, "slices": strings, "weight": {"type": "string"}
                }
            }},
            "trust": {"type": "object", "additionalProperties": false, "properties": {
                "runners": {"type": "array", "items": signer},
                "approvers": {"type": "array", "items": signer},
                "services": {"type": "array", "items": signer}
            }},
            "stages": {"type": "object", "minProperties": 1, "additionalProperties": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "extends": {"type": "string"},
                    "gates": {"type": "array", "items": {"type": "string"}},
                    "approvals": {"type": "object", "additionalProperties": false, "required": ["required"],
                        "properties": {
                            "required": {"type": "integer", "minimum": 1},
                            "roles": strings,
                            "forbid_author": {"type": "boolean", "default": true},
                            "max_age": duration
                        }},
                    "max_evidence_age": duration,
                    "waivable": {"type": "object", "additionalProperties": {
                        "type": "object", "additionalProperties": false, "required": ["roles"],
                        "properties": {"roles": strings, "max_duration": duration}
                    }},
                    "recheck": {"type": "object", "additionalProperties": false, "required": ["every", "gates"],
                        "properties": {
                            "every": duration,
                            "gates": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                            "on_fail": {"enum": ["flag", "revoke"], "default": "flag"}
                        }}
                }
            }},
            "gates": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["kind"],
                "properties": {
                    "kind": {"type": "string", "description": "command, scan, provenance, performance, reference, fairness, robustness, backdoor, llm-safety, llm-redteam, llm-backdoor"},
                    "require": {"type": "object", "additionalProperties": threshold}
                }
            }}
        }
    })
}
