package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// Telemetry protocols and defaults (plugins.telemetry.config.protocol).
const (
	TelemetryGRPC = "grpc"
	TelemetryHTTP = "http/protobuf"
	// DefaultTelemetryURL is the collector the Python gateway's config
	// names: OTLP over gRPC on localhost.
	DefaultTelemetryURL = "http://localhost:4317"
	// DefaultTelemetryServiceName is the service.name of every span.
	DefaultTelemetryServiceName = "secure-mcp-gateway"
)

// telemetryProviders are the names plugins.telemetry.provider accepts;
// empty means the first.
var telemetryProviders = []string{"opentelemetry", "otel"}

// telemetryKeys are the keys plugins.telemetry.config accepts: the Python
// gateway's enabled, url and insecure, and this gateway's additions.
var telemetryKeys = map[string]string{
	"enabled":      "bool",
	"url":          "string",
	"insecure":     "bool",
	"protocol":     "string",
	"service_name": "string",
	"sample_ratio": "number",
}

// Telemetry is plugins.telemetry decoded: where the OpenTelemetry traces
// go. The zero value is "off".
type Telemetry struct {
	// Enabled turns tracing on.
	Enabled bool
	// URL is the collector's OTLP endpoint; empty means the OTEL_EXPORTER_OTLP_*
	// environment, else DefaultTelemetryURL.
	URL string
	// Insecure sends without TLS (the Python gateway's default for its
	// localhost collector).
	Insecure bool
	// Protocol is TelemetryGRPC or TelemetryHTTP; empty means the
	// OTEL_EXPORTER_OTLP_PROTOCOL environment, else gRPC.
	Protocol string
	// ServiceName is the service.name resource; empty means OTEL_SERVICE_NAME,
	// else DefaultTelemetryServiceName.
	ServiceName string
	// SampleRatio is the fraction of new traces kept, in [0,1]; nil means
	// OTEL_TRACES_SAMPLER, else every trace. A client's sampled parent is
	// always followed.
	SampleRatio *float64
}

// TelemetrySettings decodes plugins.telemetry. A nil plugin is the zero
// value; a malformed one is a *ValidationError naming each problem.
func (p Plugins) TelemetrySettings() (Telemetry, error) {
	var v validator
	t := v.telemetry(p.Telemetry)
	if len(v.problems) > 0 {
		return Telemetry{}, &ValidationError{Problems: v.problems}
	}
	return t, nil
}

// telemetry checks plugins.telemetry and returns what it says.
func (v *validator) telemetry(p *Plugin) Telemetry {
	var t Telemetry
	if p == nil {
		return t
	}
	const base = "plugins.telemetry"
	if p.Provider != "" && !slices.Contains(telemetryProviders, strings.ToLower(p.Provider)) {
		fix := `use "opentelemetry", or remove the key`
		if s := Suggest(p.Provider, telemetryProviders); s != "" {
			fix = fmt.Sprintf("did you mean %q? ", s) + fix
		}
		v.add(base+".provider", fmt.Sprintf("unknown telemetry provider %q", p.Provider), fix)
	}
	known := slices.Sorted(maps.Keys(telemetryKeys))
	for _, k := range slices.Sorted(maps.Keys(p.Config)) {
		path := base + ".config." + k
		kind, ok := telemetryKeys[k]
		if !ok {
			fix := "remove it; known keys: " + strings.Join(known, ", ")
			if s := Suggest(k, known); s != "" {
				fix = fmt.Sprintf("did you mean %q? ", s) + fix
			}
			v.add(path, fmt.Sprintf("unknown key %q", k), fix)
			continue
		}
		val := p.Config[k]
		switch kind {
		case "bool":
			b, ok := val.(bool)
			if !ok {
				v.add(path, fmt.Sprintf("%s must be true or false, not %s", k, jsonKind(val)), "write true or false without quotes")
				continue
			}
			switch k {
			case "enabled":
				t.Enabled = b
			case "insecure":
				t.Insecure = b
			}
		case "string":
			s, ok := val.(string)
			if !ok {
				v.add(path, fmt.Sprintf("%s must be a string, not %s", k, jsonKind(val)), "write it in quotes")
				continue
			}
			switch k {
			case "url":
				u, err := url.Parse(s)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					v.add(path, fmt.Sprintf("url %q is not an http(s) URL with a host", s),
						`use the collector's address, such as "http://localhost:4317"`)
					continue
				}
				t.URL = s
			case "protocol":
				switch s {
				case TelemetryGRPC, TelemetryHTTP:
					t.Protocol = s
				default:
					fix := fmt.Sprintf("use %q (port 4317) or %q (port 4318)", TelemetryGRPC, TelemetryHTTP)
					if sg := Suggest(s, []string{TelemetryGRPC, TelemetryHTTP, "http"}); sg == "http" || sg == TelemetryHTTP {
						fix = fmt.Sprintf("did you mean %q? ", TelemetryHTTP) + fix
					} else if sg != "" {
						fix = fmt.Sprintf("did you mean %q? ", sg) + fix
					}
					v.add(path, fmt.Sprintf("unknown protocol %q", s), fix)
				}
			case "service_name":
				t.ServiceName = s
			}
		case "number":
			f, ok := val.(float64)
			if !ok || f < 0 || f > 1 {
				v.add(path, fmt.Sprintf("sample_ratio must be a number from 0 to 1, not %v", val),
					"use 1 to keep every trace, 0.1 for one in ten, or remove the key")
				continue
			}
			t.SampleRatio = &f
		}
	}
	return t
}

// jsonKind names the JSON type of a decoded value, for error texts.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "a list"
	default:
		return "an object"
	}
}
