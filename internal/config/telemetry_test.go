package config

import (
	"errors"
	"strings"
	"testing"
)

func TestTelemetrySettings(t *testing.T) {
	ratio := 0.25
	tests := []struct {
		name     string
		p        *Plugin
		want     Telemetry
		path     string // the one problem's path; empty: none
		mentions string // the fix must mention this
	}{
		{"absent", nil, Telemetry{}, "", ""},
		{"python gateway block", &Plugin{Provider: "opentelemetry", Config: map[string]any{"enabled": true, "url": "http://localhost:4317", "insecure": true}},
			Telemetry{Enabled: true, URL: "http://localhost:4317", Insecure: true}, "", ""},
		{"otel alias and additions", &Plugin{Provider: "otel", Config: map[string]any{"enabled": true, "protocol": "http/protobuf", "service_name": "gw", "sample_ratio": 0.25}},
			Telemetry{Enabled: true, Protocol: TelemetryHTTP, ServiceName: "gw", SampleRatio: &ratio}, "", ""},
		{"provider typo", &Plugin{Provider: "opentelemtry"}, Telemetry{}, "plugins.telemetry.provider", `"opentelemetry"`},
		{"key typo", &Plugin{Config: map[string]any{"enabeld": true}}, Telemetry{}, "plugins.telemetry.config.enabeld", `"enabled"`},
		{"string bool", &Plugin{Config: map[string]any{"enabled": "true"}}, Telemetry{}, "plugins.telemetry.config.enabled", "without quotes"},
		{"bad url", &Plugin{Config: map[string]any{"url": "localhost:4317"}}, Telemetry{}, "plugins.telemetry.config.url", "http://localhost:4317"},
		{"protocol http", &Plugin{Config: map[string]any{"protocol": "http"}}, Telemetry{}, "plugins.telemetry.config.protocol", `"http/protobuf"`},
		{"protocol typo", &Plugin{Config: map[string]any{"protocol": "grcp"}}, Telemetry{}, "plugins.telemetry.config.protocol", `"grpc"`},
		{"ratio out of range", &Plugin{Config: map[string]any{"sample_ratio": 2.0}}, Telemetry{}, "plugins.telemetry.config.sample_ratio", "0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Plugins{Telemetry: tt.p}.TelemetrySettings()
			if tt.path == "" {
				if err != nil {
					t.Fatalf("TelemetrySettings: %v", err)
				}
				if got.Enabled != tt.want.Enabled || got.URL != tt.want.URL || got.Insecure != tt.want.Insecure ||
					got.Protocol != tt.want.Protocol || got.ServiceName != tt.want.ServiceName ||
					(got.SampleRatio == nil) != (tt.want.SampleRatio == nil) || (got.SampleRatio != nil && *got.SampleRatio != *tt.want.SampleRatio) {
					t.Fatalf("TelemetrySettings = %+v, want %+v", got, tt.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 {
				t.Fatalf("TelemetrySettings error = %v, want one problem at %s", err, tt.path)
			}
			if p := ve.Problems[0]; p.Path != tt.path || !strings.Contains(p.Fix, tt.mentions) {
				t.Fatalf("problem %+v, want path %s and a fix mentioning %s", p, tt.path, tt.mentions)
			}
			// The same problem is one of the whole config's.
			c := &Config{Plugins: Plugins{Telemetry: tt.p}}
			if err := c.Validate(); !errors.As(err, &ve) || !strings.Contains(err.Error(), tt.path) {
				t.Fatalf("Validate = %v, want it to name %s", err, tt.path)
			}
		})
	}
}
