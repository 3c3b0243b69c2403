// Package guard decides what may cross the gateway. It owns the offline
// detectors (PII, secrets, prompt injection, hidden Unicode, keywords,
// sponge inputs, poisoned tool definitions, and the definition rules that
// read every string of a tool, prompt or resource-template definition after
// normalisation and de-obfuscation), the remote providers for model-based
// detectors (the Enkrypt API and OpenAI moderation), the seed's per-server
// input, output and tool policies, PII placeholders that are restored in
// results, and the pinning of tool definitions against rug pulls. The
// offline detectors are implemented in guard/detect, which a program can
// import without the gateway's network and protocol dependencies; guard
// re-exports them.
//
// Every offline detector runs in time linear in its input: patterns are RE2
// (Go regexp) and run only over windows around cheap literal anchors, each
// byte scanned at most once per rule.
//
// The package must never put matched content into an error, a log line or a
// state file: findings carry a detector name, a rule id and a keyed
// fingerprint. It does no I/O other than its remote providers and the pin
// state file, and it never imports proxy (proxy consumes its Engine through
// proxy.Guard).
package guard
