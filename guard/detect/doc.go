// Package detect holds the gateway's offline detectors: PII, secrets,
// prompt injection, tool poisoning, hidden Unicode, keywords, sponge
// inputs, path traversal and SSRF in arguments, the definition rules that
// read every string of a tool, prompt or resource-template definition, and
// the registry of detector names a policy may list.
//
// Every detector runs in time linear in its input (patterns are RE2 and run
// only over windows around cheap literal anchors) and does no I/O. The
// package imports no network, protocol or logging package, so a small
// program such as the hook binary can run the detectors without paying for
// the gateway's dependencies at start-up. Package guard builds its policies
// on it and re-exports its API.
//
// Findings carry a detector name, a rule id and a position, never the
// matched text in an error or a log line.
package detect
