package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"secure-mcp-gateway/guard"
	"secure-mcp-gateway/proxy"
	"secure-mcp-gateway/serve"
	"secure-mcp-gateway/upstream"
)

const composeDir = "deploy/compose"

// TestComposeStack checks the deploy/compose stack without running it: the
// compose file and the collector config parse, every file they mount
// exists, and the services the docs name are there. `docker compose config`
// validates the file too where the compose plugin is installed.
func TestComposeStack(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Build   any      `yaml:"build"`
			Image   string   `yaml:"image"`
			Volumes []string `yaml:"volumes"`
		} `yaml:"services"`
	}
	readYAML(t, filepath.Join(composeDir, "docker-compose.yml"), &compose)
	for _, name := range []string{"gateway", "otel-collector", "jaeger", "prometheus", "grafana"} {
		s, ok := compose.Services[name]
		if !ok {
			t.Errorf("service %q missing", name)
			continue
		}
		if s.Image == "" && s.Build == nil {
			t.Errorf("service %q has neither image nor build", name)
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, "./") {
				if _, err := os.Stat(filepath.Join(composeDir, src)); err != nil {
					t.Errorf("service %q mounts %s: %v", name, src, err)
				}
			}
		}
	}
	var col struct {
		Receivers map[string]any `yaml:"receivers"`
		Exporters map[string]any `yaml:"exporters"`
		Service   struct {
			Pipelines map[string]struct {
				Receivers []string `yaml:"receivers"`
				Exporters []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	readYAML(t, filepath.Join(composeDir, "otel-collector.yaml"), &col)
	tr, ok := col.Service.Pipelines["traces"]
	if !ok {
		t.Fatal("the collector has no traces pipeline")
	}
	for _, r := range tr.Receivers {
		if _, ok := col.Receivers[r]; !ok {
			t.Errorf("traces pipeline names receiver %q that is not defined", r)
		}
	}
	for _, e := range tr.Exporters {
		if _, ok := col.Exporters[e]; !ok {
			t.Errorf("traces pipeline names exporter %q that is not defined", e)
		}
	}
	if err := exec.Command("docker", "compose", "version").Run(); err != nil {
		t.Skipf("docker compose is not installed (%v): the file was checked by parsing only", err)
	}
	out, err := exec.Command("docker", "compose", "-f", filepath.Join(composeDir, "docker-compose.yml"), "config", "-q").CombinedOutput()
	if err != nil {
		t.Errorf("docker compose config: %v\n%s", err, out)
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestDashboardSeries parses the provisioned Grafana dashboard and checks
// that every gateway series it queries is one /metrics serves, so that a
// renamed metric cannot leave an empty panel behind.
func TestDashboardSeries(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(composeDir, "grafana/dashboards/secure-mcp-gateway.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.UID == "" || len(d.Panels) == 0 {
		t.Fatal("dashboard has no uid or no panels")
	}
	m := serve.NewMetrics()
	m.ObserveCall(&proxy.CallEvent{Method: "tools/call", Server: "s", Tool: "s__t", Outcome: proxy.OutcomeOK, Duration: time.Millisecond,
		Stages:   []proxy.StageTiming{{Name: "forward", Duration: time.Millisecond}},
		Verdicts: []guard.Verdict{{Violations: []guard.Violation{{Stage: "input", Detector: "pii", Action: guard.ActionBlock}}}}})
	m.UpstreamEvent(upstream.Event{Server: "s", Kind: upstream.EventExited})
	m.Evicted("per_key")
	m.Count(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/mcp", nil))
	served := scrapeHandler(t, m)
	series := regexp.MustCompile(`\b((?:smg|go|process)_[a-z_]+)`)
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range series.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
				if !strings.Contains(served, "# TYPE "+base+" ") {
					t.Errorf("panel %q queries %s, which /metrics does not serve", p.Title, name)
				}
			}
		}
	}
}

func scrapeHandler(t *testing.T, m *serve.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
