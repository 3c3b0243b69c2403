package telemetry

import (
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/proxy"
)

// Attribute keys of this gateway, beside the semantic conventions' own.
const (
	AttrProject     = attribute.Key("enkrypt.project.id")
	AttrUser        = attribute.Key("enkrypt.user.id")
	AttrMCPConfig   = attribute.Key("enkrypt.mcp_config.id")
	AttrServer      = attribute.Key("enkrypt.server")
	AttrOutcome     = attribute.Key("enkrypt.outcome")
	AttrVerdict     = attribute.Key("enkrypt.verdict")
	AttrDetectors   = attribute.Key("enkrypt.detectors")
	AttrArgBytes    = attribute.Key("enkrypt.arguments.bytes")
	AttrResultBytes = attribute.Key("enkrypt.result.bytes")
)

// Attributes are a request span's attributes: the MCP and GenAI semantic
// conventions where they exist (mcp.method.name, mcp.session.id,
// gen_ai.tool.name, mcp.resource.uri, gen_ai.prompt.name), then the
// principal's ids, the server, the outcome, the verdict and the detectors
// that acted. Never values, emails or error texts.
func Attributes(ev *proxy.CallEvent) []attribute.KeyValue {
	method := firstNonEmpty(ev.Method, "tools/call")
	a := make([]attribute.KeyValue, 0, 16)
	a = append(a, semconv.McpMethodNameKey.String(method))
	if ev.SessionID != "" {
		a = append(a, semconv.McpSessionID(ev.SessionID))
	}
	switch method {
	case "tools/call":
		a = append(a, semconv.GenAIOperationNameExecuteTool, semconv.GenAIToolName(ev.Tool))
	case "resources/read":
		a = append(a, semconv.McpResourceURI(ev.Tool))
	case "prompts/get":
		a = append(a, semconv.GenAIPromptName(ev.Tool))
	}
	for _, kv := range []struct {
		k attribute.Key
		v string
	}{{AttrProject, ev.Project}, {AttrUser, ev.User}, {AttrMCPConfig, ev.MCPConfig}, {AttrServer, ev.Server}, {AttrOutcome, ev.Outcome}} {
		if kv.v != "" {
			a = append(a, kv.k.String(kv.v))
		}
	}
	verdict, detectors := summarize(ev.Verdicts)
	a = append(a, AttrVerdict.String(verdict), AttrArgBytes.Int(ev.ArgBytes), AttrResultBytes.Int(ev.ResultBytes))
	if len(detectors) > 0 {
		a = append(a, AttrDetectors.StringSlice(detectors))
	}
	if ev.Outcome != "" && ev.Outcome != proxy.OutcomeOK {
		a = append(a, semconv.ErrorTypeKey.String(ev.Outcome))
	}
	return a
}

// summarize returns the strongest action among the verdicts ("block",
// "redact", "warn" or "allow") and each violation as
// "stage:detector[/rule]:action".
func summarize(vs []guard.Verdict) (string, []string) {
	best, verdict := 0, "allow"
	var ds []string
	for _, v := range vs {
		for _, x := range v.Violations {
			d := x.Stage + ":" + x.Detector
			if x.Rule != "" {
				d += "/" + x.Rule
			}
			ds = append(ds, d+":"+x.Action)
			if r := actionRank(x.Action); r > best {
				best, verdict = r, x.Action
			}
		}
	}
	return verdict, ds
}

// actionRank orders guard actions by strength; unknown ones rank lowest.
func actionRank(action string) int {
	switch action {
	case guard.ActionWarn:
		return 1
	case guard.ActionRedact:
		return 2
	case guard.ActionBlock:
		return 3
	}
	return 0
}

// statusOf maps an outcome to a span status: blocks, withheld tools and
// tool errors are answers the gateway meant to give, so they stay Unset
// with the outcome in enkrypt.outcome; failures are Error.
func statusOf(outcome string) codes.Code {
	switch outcome {
	case proxy.OutcomeBlocked, proxy.OutcomeWithheld, proxy.OutcomeToolError:
		return codes.Unset
	default:
		return codes.Error
	}
}
