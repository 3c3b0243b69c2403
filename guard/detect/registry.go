package detect

import (
	"fmt"
	"slices"
	"strings"
)

// Cost classes of a detector.
const (
	// CostLinear is an offline detector: linear in its input, no I/O.
	CostLinear = "linear"
	// CostRemote is a detector that calls the guardrail provider.
	CostRemote = "remote"
)

// Stages a policy may check.
const (
	StageInput  = "input"  // a call's arguments, a request to the upstream
	StageOutput = "output" // a result, anything from the upstream
	StageTool   = "tool"   // a tool definition
)

// DetectorInfo describes one detector of the Registry.
type DetectorInfo struct {
	// Name is the name a policy's block list uses.
	Name string
	// Stages are the policies the detector runs in (StageInput, …).
	Stages []string
	// NeedsProvider is true for a detector that runs on the remote
	// guardrail provider (plugins.guardrails).
	NeedsProvider bool
	// Cost is CostLinear or CostRemote.
	Cost string
	// Description is one line for help and docs.
	Description string
}

var (
	allStages   = []string{StageInput, StageOutput, StageTool}
	modelStages = []string{StageInput, StageOutput}
)

// offline returns the registry entry of an offline detector.
func offline(name, description string, stages ...string) DetectorInfo {
	if len(stages) == 0 {
		stages = allStages
	}
	return DetectorInfo{Name: name, Stages: stages, Cost: CostLinear, Description: description}
}

// model returns the registry entry of a provider detector.
func model(name, description string) DetectorInfo {
	return DetectorInfo{Name: name, Stages: modelStages, NeedsProvider: true, Cost: CostRemote, Description: description}
}

// Registry is every detector a policy's block list may name: the offline
// ones first, in the order help lists them, then the provider ones. A new
// detector is one entry here (and its case in NewScanner or the provider).
var Registry = []DetectorInfo{
	offline(DetectorPII, "personal data: e-mail, phone, SSN, card, IBAN, IP address (placeholders with pii_redaction)"),
	offline(DetectorSecrets, "credentials: cloud and API keys, tokens, private keys, JWTs, passwords in URLs and assignments"),
	offline(DetectorInjection, "prompt injection: instruction overrides, role and system markers, jailbreaks, exfiltration"),
	offline(DetectorHiddenText, "invisible text: Unicode tags, zero-width and bidi controls, ANSI escapes, NUL"),
	offline(DetectorKeyword, "the words in additional_config.keywords, case-insensitive, whole words"),
	offline(DetectorSponge, "resource exhaustion: oversized strings, long repetitions"),
	offline(DetectorToolPoisoning, "poisoned tool definitions: sensitive paths, preference manipulation, the injection rules", StageTool),
	offline(DetectorPathTraversal, "arguments that climb out of a directory or name sensitive files (opt-in)", StageInput),
	offline(DetectorSSRF, "arguments with URLs aimed at loopback, private, link-local or metadata addresses (opt-in)", StageInput),
	model("toxicity", "toxic language"),
	model("nsfw", "sexual content"),
	model("bias", "biased statements"),
	model("policy_violation", "text that breaks the provider policy named by policy_name"),
	model("topic_detector", "text on a topic the provider policy restricts"),
	model("relevancy", "answers not relevant to the request"),
	model("adherence", "answers that do not adhere to their context"),
	model("hallucination", "answers not supported by their context"),
	model("system_prompt_protection", "attempts to reveal the system prompt"),
	model("copyright_protection", "copyrighted text"),
}

// LookupDetector returns the Registry entry of name.
func LookupDetector(name string) (DetectorInfo, bool) {
	i := slices.IndexFunc(Registry, func(d DetectorInfo) bool { return d.Name == name })
	if i < 0 {
		return DetectorInfo{}, false
	}
	return Registry[i], true
}

// detectorNames returns the names of the Registry entries whose
// NeedsProvider is provider, in Registry order.
func detectorNames(provider bool) []string {
	var out []string
	for _, d := range Registry {
		if d.NeedsProvider == provider {
			out = append(out, d.Name)
		}
	}
	return out
}

// OfflineDetectors are the detectors that run inside the gateway.
var OfflineDetectors = detectorNames(false)

// ModelDetectors are the detectors that need a remote provider.
var ModelDetectors = detectorNames(true)

// IsModelDetector reports whether name needs a remote provider.
func IsModelDetector(name string) bool { return slices.Contains(ModelDetectors, name) }

// IsOfflineDetector reports whether name is an offline detector.
func IsOfflineDetector(name string) bool { return slices.Contains(OfflineDetectors, name) }

// RegistryMarkdown is the Registry as the Markdown table of
// docs/GUARDRAILS.md.
func RegistryMarkdown() string {
	var b strings.Builder
	b.WriteString("| name in `block` | policies | provider | cost | what it finds |\n|---|---|---|---|---|\n")
	for _, d := range Registry {
		prov := "no"
		if d.NeedsProvider {
			prov = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Name, strings.Join(d.Stages, ", "), prov, d.Cost, d.Description)
	}
	return b.String()
}

// RegistryText is the Registry as aligned lines for command help, each
// with the policies its detector is meant for; with offlineOnly, only the
// offline detectors, without policies (for hooks, which have none).
func RegistryText(offlineOnly bool) string {
	var shown []DetectorInfo
	width := 0
	for _, d := range Registry {
		if offlineOnly && d.NeedsProvider {
			continue
		}
		shown = append(shown, d)
		width = max(width, len(d.Name))
	}
	var b strings.Builder
	for _, d := range shown {
		fmt.Fprintf(&b, "  %-*s  %s", width, d.Name, d.Description)
		if !offlineOnly {
			where := strings.Join(d.Stages, ", ")
			if d.NeedsProvider {
				where += "; needs a provider"
			}
			fmt.Fprintf(&b, " (%s)", where)
		}
		b.WriteString("\n")
	}
	return b.String()
}
