package guard

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/rs/zerolog"

	"secure-mcp-gateway/guard/detect"
	"secure-mcp-gateway/internal/config"
)

// DefaultMaxOutputBytes is the largest tool result (as JSON) the gateway
// passes on.
const DefaultMaxOutputBytes = 10 << 20

// DefaultGuardrailTimeout bounds a remote provider call when
// Options.GuardrailTimeout is zero.
const DefaultGuardrailTimeout = 15 * time.Second

// Options configures an Engine. A nil *Options means no servers.
type Options struct {
	// Servers are the server entries whose policies apply, by Name.
	Servers []*config.Server
	// Pins holds the pinned tool definitions (FilePins, or SharedPins
	// across replicas). Nil means pins live in memory only (a change
	// within one run is still caught).
	Pins PinStore
	// MaxOutputBytes caps a tool result's JSON size. Zero means
	// DefaultMaxOutputBytes.
	MaxOutputBytes int
	// Provider runs the model detectors (toxicity, nsfw, ...) that
	// policies list. Nil means none: a policy listing one fails closed with
	// ProviderProblem.
	Provider Provider
	// ProviderProblem says why there is no Provider (from NewProvider),
	// for the fail-closed message. Nil means "no provider configured".
	ProviderProblem error
	// GuardrailTimeout bounds one provider call. Zero means
	// DefaultGuardrailTimeout.
	GuardrailTimeout time.Duration
	// DeniedTools is the gateway-wide denied_tools list, applied to every
	// server before its own list. Nil means none.
	DeniedTools []config.DeniedTool
	// Logger receives findings (detector, rule, fingerprint; never the
	// matched text). Nil means no logs.
	Logger *zerolog.Logger
	// PinChanged is told of each tool definition found to differ from its
	// pin, once per new definition (the audit log's pin_change record). It
	// is called with the engine's lock held and must not block. Nil means
	// no one is told.
	PinChanged func(PinChange)
}

// PinChange is a tool definition that differs from its pin.
type PinChange struct {
	Server, Tool string
	// Before is the SHA-256 (hex) of the pinned canonical definition,
	// After that of the definition the upstream now serves.
	Before, After string
}

// Engine applies the servers' guardrail policies. It implements the proxy's
// Guard hook. An Engine is safe for concurrent use.
type Engine struct {
	opts    Options
	log     zerolog.Logger
	servers map[string]*serverPolicy
	fpKey   []byte // keys fingerprints so they cannot be brute-forced offline
	deny    *denier

	mu      sync.Mutex
	pins    map[string]map[string]string // server -> tool -> hash, this run
	pinSeen map[string]string            // server NUL tool -> the changed hash last reported, without a PinStore
}

// policy is one compiled input or output policy.
type policy struct {
	enabled      bool
	scanner      *Scanner
	block        map[string]bool
	model        []string // listed model detectors
	policyName   string
	piiRedaction bool
	redact       bool
}

type serverPolicy struct {
	server             *config.Server
	input, output      policy
	tool               policy
	serverInfo         bool
	serverInfoProblems []Finding
}

// NewEngine returns an Engine for opts.
func NewEngine(opts *Options) *Engine {
	e := &Engine{servers: map[string]*serverPolicy{}, pins: map[string]map[string]string{}, pinSeen: map[string]string{}}
	if opts != nil {
		e.opts = *opts
	}
	if e.opts.Logger != nil {
		e.log = *e.opts.Logger
	} else {
		e.log = zerolog.Nop()
	}
	if e.opts.GuardrailTimeout <= 0 {
		e.opts.GuardrailTimeout = DefaultGuardrailTimeout
	}
	if e.opts.MaxOutputBytes <= 0 {
		e.opts.MaxOutputBytes = DefaultMaxOutputBytes
	}
	e.deny = newDenier(e.opts.DeniedTools, e.opts.Servers)
	e.fpKey = make([]byte, 32)
	_, _ = rand.Read(e.fpKey)
	for _, s := range e.opts.Servers {
		if s == nil {
			continue
		}
		sp := &serverPolicy{server: s}
		sp.input = compilePolicy(s.InputGuardrailsPolicy)
		sp.output = compilePolicy(s.OutputGuardrailsPolicy)
		sp.tool = compilePolicy(s.ToolGuardrailsPolicy)
		if sp.tool.enabled && (sp.tool.block[DetectorInjection] || sp.tool.block[DetectorToolPoisoning]) {
			sp.tool.scanner.ToolPoisoning = true
			sp.tool.block[DetectorToolPoisoning] = true
			sp.tool.block[DetectorInjection] = true
		}
		sp.serverInfo = s.EnableServerInfoValidation == nil || *s.EnableServerInfoValidation
		if sp.serverInfo {
			sc := &Scanner{ToolPoisoning: true, HiddenText: true}
			sp.serverInfoProblems = sc.Scan(s.Description, nil)
		}
		e.servers[s.Name] = sp
	}
	return e
}

func compilePolicy(p *config.Policy) policy {
	if p == nil || !p.Enabled {
		return policy{}
	}
	out := policy{enabled: true, block: map[string]bool{}, policyName: p.PolicyName}
	var names []string
	for _, b := range p.Block {
		b = strings.TrimSpace(b)
		out.block[b] = true
		if IsModelDetector(b) {
			out.model = append(out.model, b)
		} else {
			names = append(names, b)
		}
	}
	out.piiRedaction = boolSetting(p.AdditionalConfig, "pii_redaction")
	out.redact = boolSetting(p.AdditionalConfig, "redact")
	if out.piiRedaction && !slices.Contains(names, DetectorPII) {
		names = append(names, DetectorPII)
	}
	out.scanner = NewScanner(names, stringsSetting(p.AdditionalConfig, "keywords"))
	return out
}

func boolSetting(m map[string]any, k string) bool {
	v, _ := m[k].(bool)
	return v
}

func stringsSetting(m map[string]any, k string) []string {
	var out []string
	switch v := m[k].(type) {
	case []any:
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case string:
		out = strings.Split(v, ",")
	}
	return out
}

// fingerprint identifies a matched text in logs without revealing it.
func (e *Engine) fingerprint(s string) string {
	m := hmac.New(sha256.New, e.fpKey)
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// BlockedError says that a guardrail blocked a call or a result. Its text
// names the detectors and rule ids that fired, never what they matched.
type BlockedError struct {
	// Server and Tool name the call.
	Server, Tool string
	// Stage is "input", "output" or "tool".
	Stage string
	// Reasons are "detector (rule, rule)" entries, or other reasons such as
	// a size limit or a provider failure.
	Reasons []string
	// Subject, when set, replaces `Tool "<Tool>"` in the message, such as
	// `Resource "file:///a"` or `Prompt "review"`.
	Subject string
	// Violations are the typed form of Reasons: which detector, rule and
	// field blocked, for metrics, audit and tracing. Read them, never the
	// error text.
	Violations []Violation
}

// Verdict returns the block as a Verdict of its stage.
func (e *BlockedError) Verdict() Verdict {
	return Verdict{Stage: e.Stage, Violations: e.Violations}
}

func (e *BlockedError) Error() string {
	what := map[string]string{"input": "the arguments were not forwarded to the server", "output": "the result was withheld"}[e.Stage]
	subject := e.Subject
	if subject == "" {
		subject = fmt.Sprintf("Tool %q", e.Tool)
	}
	return fmt.Sprintf("%s on server %q blocked by %s guardrails: %s; %s.", subject, e.Server, e.Stage, strings.Join(e.Reasons, "; "), what)
}

// reasons summarises findings as "detector (rule, rule)" entries, sorted.
func reasons(fs []Finding) []string {
	byDet := map[string][]string{}
	for _, f := range fs {
		if !slices.Contains(byDet[f.Detector], f.Rule) {
			byDet[f.Detector] = append(byDet[f.Detector], f.Rule)
		}
	}
	var out []string
	for d, rules := range byDet {
		slices.Sort(rules)
		out = append(out, fmt.Sprintf("%s (%s)", d, strings.Join(rules, ", ")))
	}
	sort.Strings(out)
	return out
}

func (e *Engine) logFindings(server, tool, stage string, texts []string, fs []Finding, blocked bool) {
	for _, f := range fs {
		ev := e.log.Warn()
		if !blocked {
			ev = e.log.Info()
		}
		fp := ""
		if f.Start >= 0 && f.End <= len(texts[0]) {
			fp = e.fingerprint(texts[0][f.Start:f.End])
		}
		ev.Str("server", server).Str("tool", Mask(tool)).Str("stage", stage).Str("detector", f.Detector).Str("rule", f.Rule).Str("fingerprint", fp).Bool("blocked", blocked).Msg("guardrail finding")
	}
}

// scanAll runs p's scanner over every string once and returns the findings
// that p blocks on, all findings, and the findings of each string (for
// logging, indexed like strs).
func scanAll(p *policy, strs []string) (blocking, all []Finding, per [][]Finding) {
	per = make([][]Finding, len(strs))
	for i, s := range strs {
		fs := p.scanner.Scan(s, nil)
		per[i] = fs
		for _, f := range fs {
			all = append(all, f)
			if p.block[f.Detector] && !(f.Detector == DetectorPII && p.piiRedaction) {
				blocking = append(blocking, f)
			}
		}
	}
	return blocking, all, per
}

// logAll logs the findings of every string scanned by scanAll.
func (e *Engine) logAll(server, tool, stage string, strs []string, per [][]Finding, blocked bool) {
	for i, fs := range per {
		if len(fs) > 0 {
			e.logFindings(server, tool, stage, strs[i:i+1], fs, blocked)
		}
	}
}

// DefaultPromptCheckBytes is the input size up to which Engine promises
// that a check ends promptly on its own: the offline detectors are linear
// (over 20 MB/s on pathological text), so 64 KiB takes a few milliseconds.
const DefaultPromptCheckBytes = 64 << 10

// PromptCheckBytes reports the size of arguments or result text up to which
// CheckCall and its result check end promptly without watching their
// context: offline scans are linear, and remote provider calls carry the
// context's deadline. The proxy runs such checks on the calling goroutine.
func (e *Engine) PromptCheckBytes() int { return DefaultPromptCheckBytes }

// CheckCall inspects a call's arguments before it is forwarded: every string
// leaf and every key is scanned; PII is replaced by placeholders when the
// input policy asks for pii_redaction; the returned function checks the
// result and restores placeholders.
func (e *Engine) CheckCall(ctx context.Context, server, tool string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, error), error) {
	fwd, check, _, err := e.CheckCallVerdict(ctx, server, tool, args)
	if err != nil {
		return nil, nil, err
	}
	return fwd, func(ctx context.Context, res *mcp.CallToolResult) (*mcp.CallToolResult, error) {
		out, _, err := check(ctx, res)
		return out, err
	}, nil
}

// VerdictChecker is CheckCall that also reports what passed with a change:
// a proxy that wants the redactions of an allowed call type-asserts its
// guard to it. Blocks stay *BlockedError, whose Violations say why.
type VerdictChecker interface {
	CheckCallVerdict(ctx context.Context, server, tool string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, Verdict, error), Verdict, error)
}

var _ VerdictChecker = (*Engine)(nil)

// CheckCallVerdict is CheckCall that returns, with an allowed call, the
// input Verdict of its arguments (a PII placeholder is a redact violation)
// and a result check that returns the output Verdict of the result (a
// redact-mode replacement is a redact violation).
func (e *Engine) CheckCallVerdict(ctx context.Context, server, tool string, args json.RawMessage) (json.RawMessage, func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, Verdict, error), Verdict, error) {
	vd := Verdict{Stage: "input"}
	if de := e.deny.denied(server, tool); de != nil {
		return nil, nil, vd, de
	}
	sp := e.servers[server]
	if sp == nil {
		return args, e.outputChecker(server, tool, nil, nil), vd, nil
	}
	var vault *Vault
	if sp.input.enabled {
		var strs, numbers []string // numbers: the tail of strs, the numbers' texts
		nstr := 0
		if len(bytes.TrimSpace(args)) > 0 {
			if !json.Valid(args) {
				return nil, nil, vd, &BlockedError{Server: server, Tool: tool, Stage: "input", Reasons: []string{"the arguments are not valid JSON"}, Violations: checkBlock("input", CheckFormat)}
			}
			strs = jsonStrings(args, false, nil)
			nstr = len(strs)
			strs = jsonNumbers(args, strs)
			numbers = strs[nstr:]
		}
		blocking, all, per := scanAll(&sp.input, strs)
		if sp.input.piiRedaction {
			// A number cannot hold a placeholder: PII sent as one blocks.
			for _, fs := range per[len(strs)-len(numbers):] {
				for _, f := range fs {
					if f.Detector == DetectorPII && sp.input.block[f.Detector] {
						blocking = append(blocking, f)
					}
				}
			}
		}
		e.logAll(server, tool, "input", strs, per, len(blocking) > 0)
		if len(blocking) > 0 {
			in := &sp.input
			vs := fieldViolations("input", ActionBlock, per, stringPaths(args, "arguments"), func(i int, f Finding) bool {
				return in.block[f.Detector] && (f.Detector != DetectorPII || !in.piiRedaction || i >= nstr)
			})
			return nil, nil, vd, &BlockedError{Server: server, Tool: tool, Stage: "input", Reasons: reasons(blocking), Violations: vs}
		}
		if err := e.remote(ctx, &sp.input, "input", strs); err != nil {
			return nil, nil, vd, remoteBlock(server, tool, "", "input", err)
		}
		if sp.input.piiRedaction && hasDetector(all, DetectorPII) {
			v, err := decodeJSON(args)
			if err != nil {
				return nil, nil, vd, &BlockedError{Server: server, Tool: tool, Stage: "input", Reasons: []string{"the arguments are not valid JSON"}, Violations: checkBlock("input", CheckFormat)}
			}
			paths := stringPaths(args, "arguments")
			vault = newVault(string(args))
			v = vault.redactValue(v)
			b, err := marshalJSON(v)
			if err != nil {
				return nil, nil, vd, fmt.Errorf("re-encode redacted arguments: %w", err)
			}
			args = b
			vd.Violations = fieldViolations("input", ActionRedact, per, paths, func(_ int, f Finding) bool { return f.Detector == DetectorPII })
		}
	}
	return args, e.outputChecker(server, tool, sp, vault), vd, nil
}

func hasDetector(fs []Finding, d string) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return f.Detector == d })
}

// collectStrings appends every string leaf and object key of v to out.
func collectStrings(v any, out []string) []string {
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, y := range x {
			out = collectStrings(y, out)
		}
	case map[string]any:
		for k, y := range x {
			out = append(out, k)
			out = collectStrings(y, out)
		}
	}
	return out
}

// remote runs p's model detectors on the remote provider over texts. It
// fails closed: no provider, a provider that cannot run a detector, a
// provider error and a timeout are all errors, as is a detector that fired.
func (e *Engine) remote(ctx context.Context, p *policy, stage string, texts []string) error {
	if len(p.model) == 0 {
		return nil
	}
	names := strings.Join(p.model, ", ")
	if e.opts.Provider == nil {
		why := e.opts.ProviderProblem
		if why == nil {
			why = fmt.Errorf("%w: set plugins.guardrails (provider \"enkrypt\" with config.api_key, or \"openai\" with config.api_key)", ErrNoProvider)
		}
		return fmt.Errorf("detector %s needs a remote guardrail provider (%w), or remove it from the %s policy's block list", names, why, stage)
	}
	var unsupported []string
	for _, d := range p.model {
		if !e.opts.Provider.Supports(d) {
			unsupported = append(unsupported, d)
		}
	}
	if len(unsupported) > 0 {
		return fmt.Errorf("detector %s cannot run on guardrail provider %s; use provider \"enkrypt\" or remove it from the %s policy's block list", strings.Join(unsupported, ", "), e.opts.Provider.Name(), stage)
	}
	ctx, cancel := withTimeout(ctx, e.opts.GuardrailTimeout)
	defer cancel()
	fired, err := e.opts.Provider.Detect(ctx, strings.Join(texts, "\n"), p.model, stage, p.policyName)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			err = &ProviderError{e.opts.Provider.Name(), fmt.Errorf("timed out after %s (timeout_settings.guardrail_timeout)", e.opts.GuardrailTimeout)}
		}
		e.log.Warn().Str("stage", stage).Str("provider", e.opts.Provider.Name()).Err(err).Msg("guardrail provider failed; failing closed")
		return fmt.Errorf("detector %s gave no verdict: %w", names, err)
	}
	if len(fired) > 0 {
		e.log.Warn().Str("stage", stage).Str("provider", e.opts.Provider.Name()).Strs("detectors", fired).Msg("guardrail finding")
		return &firedError{provider: e.opts.Provider.Name(), fired: fired}
	}
	return nil
}

// outputChecker returns the result check for one call.
func (e *Engine) outputChecker(server, tool string, sp *serverPolicy, vault *Vault) func(context.Context, *mcp.CallToolResult) (*mcp.CallToolResult, Verdict, error) {
	return func(ctx context.Context, res *mcp.CallToolResult) (*mcp.CallToolResult, Verdict, error) {
		vd := Verdict{Stage: "output"}
		if res == nil {
			return res, vd, nil
		}
		raw, err := json.Marshal(res)
		if err != nil {
			return nil, vd, fmt.Errorf("encode result of %q: %w", tool, err)
		}
		if len(raw) > e.opts.MaxOutputBytes {
			return nil, vd, &BlockedError{Server: server, Tool: tool, Stage: "output", Reasons: []string{fmt.Sprintf("the result is %d bytes, over the %d-byte output limit", len(raw), e.opts.MaxOutputBytes)}, Violations: checkBlock("output", CheckSize)}
		}
		// The result is decoded into a value only when it is rewritten
		// (redaction, restored placeholders); the scan reads the encoded
		// strings directly.
		var v any
		decode := func() error {
			if v != nil {
				return nil
			}
			var err error
			if v, err = decodeJSON(raw); err != nil {
				return fmt.Errorf("decode result of %q: %w", tool, err)
			}
			return nil
		}
		changed := false
		if sp != nil && sp.output.enabled {
			strs := jsonStrings(raw, true, nil)
			blocking, _, per := scanAll(&sp.output, strs)
			e.logAll(server, tool, "output", strs, per, len(blocking) > 0 && !sp.output.redact)
			if len(blocking) > 0 {
				if !sp.output.redact {
					return nil, vd, &BlockedError{Server: server, Tool: tool, Stage: "output", Reasons: reasons(blocking), Violations: violations("output", ActionBlock, blocking)}
				}
				if err := decode(); err != nil {
					return nil, vd, err
				}
				v = redactFindings(v, &sp.output)
				changed = true
				vd.Violations = violations("output", ActionRedact, blocking)
				// Redaction rewrites string values; a finding that lives
				// where it cannot (an object key, a base64 blob) is still
				// there, and then the result is blocked after all.
				if left, _, _ := scanAll(&sp.output, collectResultStrings(v, nil)); len(left) > 0 {
					return nil, vd, &BlockedError{Server: server, Tool: tool, Stage: "output", Reasons: reasons(left), Violations: violations("output", ActionBlock, left)}
				}
			}
			if err := e.remote(ctx, &sp.output, "output", strs); err != nil {
				return nil, vd, remoteBlock(server, tool, "", "output", err)
			}
		}
		if vault != nil && vault.used() {
			if err := decode(); err != nil {
				return nil, vd, err
			}
			v = vault.restoreValue(v)
			changed = true
		}
		if !changed {
			return res, vd, nil
		}
		b, err := marshalJSON(v)
		if err != nil {
			return nil, vd, fmt.Errorf("re-encode result of %q: %w", tool, err)
		}
		out := new(mcp.CallToolResult)
		if err := json.Unmarshal(b, out); err != nil {
			return nil, vd, fmt.Errorf("decode checked result of %q: %w", tool, err)
		}
		return out, vd, nil
	}
}

// CheckResource applies server's output policy to a resource's contents:
// the size cap, every text and decodable blob, redaction when the policy
// asks for it, and the model detectors. It implements proxy.ContentGuard.
func (e *Engine) CheckResource(ctx context.Context, server, uri string, res *mcp.ReadResourceResult) (*mcp.ReadResourceResult, error) {
	return checkContent(ctx, e, server, uri, fmt.Sprintf("Resource %q", Mask(uri)), res)
}

// CheckPrompt applies server's output policy to a prompt's description and
// messages, as CheckResource does to resources.
func (e *Engine) CheckPrompt(ctx context.Context, server, prompt string, res *mcp.GetPromptResult) (*mcp.GetPromptResult, error) {
	return checkContent(ctx, e, server, prompt, fmt.Sprintf("Prompt %q", prompt), res)
}

// checkContent is the output check of a resource or prompt result.
func checkContent[T any](ctx context.Context, e *Engine, server, name, subject string, res *T) (*T, error) {
	sp := e.servers[server]
	if res == nil {
		return res, nil
	}
	raw, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", subject, err)
	}
	if len(raw) > e.opts.MaxOutputBytes {
		return nil, &BlockedError{Server: server, Tool: name, Stage: "output", Subject: subject, Reasons: []string{fmt.Sprintf("the content is %d bytes, over the %d-byte output limit", len(raw), e.opts.MaxOutputBytes)}, Violations: checkBlock("output", CheckSize)}
	}
	if sp == nil || !sp.output.enabled {
		return res, nil
	}
	strs := jsonStrings(raw, true, nil)
	blocking, _, per := scanAll(&sp.output, strs)
	e.logAll(server, name, "output", strs, per, len(blocking) > 0 && !sp.output.redact)
	if err := e.remote(ctx, &sp.output, "output", strs); err != nil {
		return nil, remoteBlock(server, name, subject, "output", err)
	}
	if len(blocking) == 0 {
		return res, nil
	}
	if !sp.output.redact {
		return nil, &BlockedError{Server: server, Tool: name, Stage: "output", Subject: subject, Reasons: reasons(blocking), Violations: violations("output", ActionBlock, blocking)}
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", subject, err)
	}
	b, err := marshalJSON(redactFindings(v, &sp.output))
	if err != nil {
		return nil, fmt.Errorf("re-encode %s: %w", subject, err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("decode checked %s: %w", subject, err)
	}
	return out, nil
}

// collectResultStrings is collectStrings that also decodes base64 "data" and
// "blob" fields and scans them when they hold UTF-8 text.
func collectResultStrings(v any, out []string) []string {
	switch x := v.(type) {
	case map[string]any:
		for k, y := range x {
			out = append(out, k)
			if s, ok := y.(string); ok && (k == "data" || k == "blob") {
				if t, ok := decodedText(s); ok {
					out = append(out, t)
				}
			}
			out = collectResultStrings(y, out)
		}
	case []any:
		for _, y := range x {
			out = collectResultStrings(y, out)
		}
	case string:
		out = append(out, x)
	}
	return out
}

// redactFindings replaces every blocking finding in every string of v with
// [REDACTED:<rule>]. A "data" or "blob" field holding base64 is left
// whole: a placeholder is not base64, and the leftover check blocks the
// result.
func redactFindings(v any, p *policy) any {
	switch x := v.(type) {
	case string:
		fs := p.scanner.Scan(x, nil)
		var keep []Finding
		for _, f := range fs {
			if p.block[f.Detector] {
				keep = append(keep, f)
			}
		}
		return detect.ReplaceFindings(x, detect.Dedupe(keep), func(f Finding) string { return "[REDACTED:" + f.Rule + "]" })
	case []any:
		for i := range x {
			x[i] = redactFindings(x[i], p)
		}
	case map[string]any:
		for k, y := range x {
			if s, ok := y.(string); ok && (k == "data" || k == "blob") {
				if _, err := base64.StdEncoding.DecodeString(s); err == nil {
					continue
				}
			}
			x[k] = redactFindings(y, p)
		}
	}
	return v
}

// decodeJSON decodes raw into a generic value, keeping numbers as written.
func decodeJSON(raw []byte) (any, error) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// marshalJSON encodes v without HTML escaping, so placeholders such as
// <EMAIL_1> reach the upstream as written.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
