package guard

import "secure-mcp-gateway/guard/detect"

// The offline detectors live in guard/detect, which imports no network or
// protocol package, so that a small program (the hook binary) can run them
// without the gateway's dependencies. guard re-exports them under their
// historical names.

// Detector names as they appear in a policy's block list.
const (
	DetectorPII           = detect.DetectorPII
	DetectorSecrets       = detect.DetectorSecrets
	DetectorInjection     = detect.DetectorInjection
	DetectorHiddenText    = detect.DetectorHiddenText
	DetectorKeyword       = detect.DetectorKeyword
	DetectorSponge        = detect.DetectorSponge
	DetectorToolPoisoning = detect.DetectorToolPoisoning
	// DetectorPathTraversal finds arguments that climb out of a directory
	// or name sensitive files.
	DetectorPathTraversal = detect.DetectorPathTraversal
	// DetectorSSRF finds arguments with URLs aimed at loopback, private,
	// link-local or metadata addresses.
	DetectorSSRF = detect.DetectorSSRF
)

// Cost classes of a detector.
const (
	// CostLinear is an offline detector: linear in its input, no I/O.
	CostLinear = detect.CostLinear
	// CostRemote is a detector that calls the guardrail provider.
	CostRemote = detect.CostRemote
)

// Stages a policy may check.
const (
	StageInput  = detect.StageInput  // a call's arguments, a request to the upstream
	StageOutput = detect.StageOutput // a result, anything from the upstream
	StageTool   = detect.StageTool   // a tool definition
)

// Sponge defaults.
const (
	// DefaultSpongeMaxBytes is the longest string the sponge detector lets
	// pass.
	DefaultSpongeMaxBytes = detect.DefaultSpongeMaxBytes
	// DefaultSpongeMaxRepeat is the longest run of one repeated character
	// or short pattern the sponge detector lets pass.
	DefaultSpongeMaxRepeat = detect.DefaultSpongeMaxRepeat
)

// Finding is one match of an offline detector.
type Finding = detect.Finding

// Scanner runs a chosen set of offline detectors over text.
type Scanner = detect.Scanner

// Keywords finds configured keywords.
type Keywords = detect.Keywords

// Sponge finds resource-exhaustion inputs.
type Sponge = detect.Sponge

// DetectorInfo describes one detector of the Registry.
type DetectorInfo = detect.DetectorInfo

// Registry is every detector a policy's block list may name.
var Registry = detect.Registry

// ContentDetectors are the offline detectors that judge text itself.
var ContentDetectors = detect.ContentDetectors

// OfflineDetectors are the detectors that run inside the gateway.
var OfflineDetectors = detect.OfflineDetectors

// ModelDetectors are the detectors that need a remote provider.
var ModelDetectors = detect.ModelDetectors

// NewScanner returns a Scanner for the offline detectors named in names.
func NewScanner(names []string, keywords []string) *Scanner {
	return detect.NewScanner(names, keywords)
}

// AllOffline returns a Scanner running every offline content detector.
func AllOffline(keywords []string) *Scanner { return detect.AllOffline(keywords) }

// NewKeywords returns a keyword detector for words.
func NewKeywords(words []string) *Keywords { return detect.NewKeywords(words) }

// LookupDetector returns the Registry entry of name.
func LookupDetector(name string) (DetectorInfo, bool) { return detect.LookupDetector(name) }

// IsModelDetector reports whether name needs a remote provider.
func IsModelDetector(name string) bool { return detect.IsModelDetector(name) }

// IsOfflineDetector reports whether name is an offline detector.
func IsOfflineDetector(name string) bool { return detect.IsOfflineDetector(name) }

// RegistryMarkdown is the Registry as the Markdown table of
// docs/GUARDRAILS.md.
func RegistryMarkdown() string { return detect.RegistryMarkdown() }

// RegistryText is the Registry as aligned lines for command help.
func RegistryText(offlineOnly bool) string { return detect.RegistryText(offlineOnly) }

// ScanPII returns the PII findings in s.
func ScanPII(s string) []Finding { return detect.ScanPII(s) }

// ScanSecrets returns the secret findings in s.
func ScanSecrets(s string) []Finding { return detect.ScanSecrets(s) }

// ScanInjection returns the prompt-injection findings in s.
func ScanInjection(s string) []Finding { return detect.ScanInjection(s) }

// ScanToolPoisoning returns the tool-poisoning findings in s.
func ScanToolPoisoning(s string) []Finding { return detect.ScanToolPoisoning(s) }

// ScanHiddenText returns the hidden-text findings in s.
func ScanHiddenText(s string) []Finding { return detect.ScanHiddenText(s) }

// ScanPath returns the path-traversal findings in s.
func ScanPath(s string) []Finding { return detect.ScanPath(s) }

// ScanSSRF returns the SSRF findings in s.
func ScanSSRF(s string) []Finding { return detect.ScanSSRF(s) }

// DetectorDefinition is the detector name of the definition checks
// ScanDefinition adds for tool, prompt and resource-template definitions.
const DetectorDefinition = detect.DetectorDefinition

// Severity says what a definition finding means for the tool.
type Severity = detect.Severity

// Severities, from the weakest.
const (
	// SeverityWarn marks a finding worth a look that does not by itself
	// make a definition hostile.
	SeverityWarn = detect.SeverityWarn
	// SeverityBlock marks a definition that must not reach a model.
	SeverityBlock = detect.SeverityBlock
)

// DefinitionFinding is one finding of ScanDefinition.
type DefinitionFinding = detect.DefinitionFinding

// DefinitionOptions tunes ScanDefinition.
type DefinitionOptions = detect.DefinitionOptions

// ScanToolDefinition scans t as it is sent to a client.
func ScanToolDefinition(t any, opts *DefinitionOptions) ([]DefinitionFinding, error) {
	return detect.ScanToolDefinition(t, opts)
}

// ScanDefinition scans every string of a tool, prompt or resource-template
// definition.
func ScanDefinition(def any, opts *DefinitionOptions) []DefinitionFinding {
	return detect.ScanDefinition(def, opts)
}

// RedactSecrets replaces every secret the secrets detector finds in s
// with [REDACTED:<rule>].
func RedactSecrets(s string) string { return detect.RedactSecrets(s) }
