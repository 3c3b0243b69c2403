package promtext

import (
	"bytes"
	"math"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parse reads text with the Prometheus reference parser.
func parse(t testing.TB, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the reference parser refuses the output: %v\n%s", err, text)
	}
	return fams
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// TestReferenceParserReadsOutput proves the format with the parser
// Prometheus itself uses for the text format: types, values, escaped label
// values and histogram buckets all come back as written.
func TestReferenceParserReadsOutput(t *testing.T) {
	r := NewRegistry()
	r.RegisterRuntime()
	calls := r.NewCounterVec("smg_tool_calls_total", "Tool calls by server, tool and outcome (ok, tool_error).", "server", "tool", "outcome")
	calls.WithLabelValues("echo_server", "echo", "ok").Add(3)
	calls.WithLabelValues("odd", "a\\b \"c\"\nd", "blocked").Inc()
	sessions := r.NewGauge("smg_sessions_open", "Open MCP sessions.\nSecond \\ line.")
	sessions.Inc()
	lat := r.NewHistogramVec("smg_tool_call_duration_seconds", "Latency.", ExponentialBuckets(0.0001, 2, 20), "server")
	for _, v := range []float64{0.00005, 0.0003, 0.0003, 2, 1000} {
		lat.WithLabelValues("echo_server").Observe(v)
	}

	fams := parse(t, render(t, r))

	c := fams["smg_tool_calls_total"]
	if c.GetType() != dto.MetricType_COUNTER || len(c.GetMetric()) != 2 {
		t.Fatalf("calls family = %v", c)
	}
	got := map[string]float64{}
	for _, m := range c.GetMetric() {
		got[labelsOf(m)["tool"]] = m.GetCounter().GetValue()
	}
	if got["echo"] != 3 || got["a\\b \"c\"\nd"] != 1 {
		t.Errorf("calls by tool = %v", got)
	}

	s := fams["smg_sessions_open"]
	if s.GetType() != dto.MetricType_GAUGE || s.GetMetric()[0].GetGauge().GetValue() != 1 || s.GetHelp() != "Open MCP sessions.\nSecond \\ line." {
		t.Errorf("sessions family = %v", s)
	}

	h := fams["smg_tool_call_duration_seconds"]
	if h.GetType() != dto.MetricType_HISTOGRAM || len(h.GetMetric()) != 1 {
		t.Fatalf("latency family = %v", h)
	}
	hist := h.GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 5 || hist.GetSampleSum() != sumOf(0.00005, 0.0003, 0.0003, 2, 1000) {
		t.Errorf("latency count %d sum %v", hist.GetSampleCount(), hist.GetSampleSum())
	}
	buckets := hist.GetBucket()
	if len(buckets) != 21 || !math.IsInf(buckets[20].GetUpperBound(), 1) || buckets[20].GetCumulativeCount() != 5 {
		t.Fatalf("buckets = %v, want 20 bounds and +Inf holding all 5", buckets)
	}
	var prev uint64
	for _, b := range buckets {
		if b.GetCumulativeCount() < prev {
			t.Errorf("bucket le=%v count %d below the previous %d", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
	}
	if first, last := buckets[0].GetCumulativeCount(), buckets[19].GetCumulativeCount(); first != 1 || last != 4 {
		t.Errorf("le=0.0001 holds %d (want 1), le=%v holds %d (want 4)", first, buckets[19].GetUpperBound(), last)
	}

	for _, name := range []string{"go_goroutines", "go_info", "go_memstats_heap_alloc_bytes", "process_start_time_seconds"} {
		if fams[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

// TestRuntimeSeries checks the process and runtime series report plausible
// values where the system gives them, and are absent where it does not.
func TestRuntimeSeries(t *testing.T) {
	r := NewRegistry()
	r.RegisterRuntime()
	fams := parse(t, render(t, r))
	value := func(name string) (float64, bool) {
		f := fams[name]
		if f == nil {
			return 0, false
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), true
		}
		return m.GetGauge().GetValue(), true
	}
	if v, _ := value("go_goroutines"); v < 1 {
		t.Errorf("go_goroutines = %v", v)
	}
	if v, _ := value("go_memstats_heap_alloc_bytes"); v <= 0 {
		t.Errorf("go_memstats_heap_alloc_bytes = %v", v)
	}
	for _, name := range []string{"go_threads", "go_memstats_alloc_bytes", "go_memstats_alloc_bytes_total", "go_memstats_heap_objects", "go_memstats_next_gc_bytes", "go_memstats_sys_bytes", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes"} {
		if v, ok := value(name); !ok || v <= 0 {
			t.Errorf("%s = %v, reported %v", name, v, ok)
		}
	}
	if fams["go_memstats_alloc_bytes_total"].GetType() != dto.MetricType_COUNTER {
		t.Errorf("go_memstats_alloc_bytes_total is not a counter")
	}
	if v, _ := value("go_sched_gomaxprocs_threads"); v != float64(runtime.GOMAXPROCS(0)) {
		t.Errorf("go_sched_gomaxprocs_threads = %v", v)
	}
	if got := labelsOf(fams["go_info"].GetMetric()[0])["version"]; got != runtime.Version() {
		t.Errorf("go_info version = %q", got)
	}
	now := float64(time.Now().Unix())
	if v, _ := value("process_start_time_seconds"); v > now+1 || v < now-24*3600 {
		t.Errorf("process_start_time_seconds = %v, now %v", v, now)
	}
	if runtime.GOOS != "linux" {
		for _, name := range []string{"process_resident_memory_bytes", "process_open_fds"} {
			if _, ok := value(name); ok {
				t.Errorf("%s reported on %s", name, runtime.GOOS)
			}
		}
		return
	}
	if v, _ := value("process_resident_memory_bytes"); v < 1<<20 {
		t.Errorf("process_resident_memory_bytes = %v", v)
	}
	rss, _ := value("process_resident_memory_bytes")
	if vsz, _ := value("process_virtual_memory_bytes"); vsz < rss {
		t.Errorf("process_virtual_memory_bytes = %v, below the resident %v", vsz, rss)
	}
	if v, ok := value("process_cpu_seconds_total"); !ok || v <= 0 {
		t.Errorf("process_cpu_seconds_total = %v %v", v, ok)
	}
	if v, _ := value("process_open_fds"); v < 3 {
		t.Errorf("process_open_fds = %v", v)
	}
	if v, _ := value("process_max_fds"); v < 3 {
		t.Errorf("process_max_fds = %v", v)
	}
	// The start time read from /proc is the real one: before this package's
	// initialisation, and not long before.
	if v, _ := value("process_start_time_seconds"); v > float64(initTime.Unix())+1 || v < float64(initTime.Unix())-60 {
		t.Errorf("process_start_time_seconds = %v, package initialised at %v", v, initTime.Unix())
	}
}

// FuzzLabelValueAndHelp writes any label value and help text and reads them
// back with the reference parser: the escaping must round-trip whatever a
// tool name or server name holds.
func FuzzLabelValueAndHelp(f *testing.F) {
	for _, s := range []string{"", "echo", `a\b`, `"`, "\n", `\n`, "\\\"\n", "a\xffb", "é✓", "}", `le="1"`, " # TYPE x gauge"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, value, help string) {
		if !utf8.ValidString(help) {
			t.Skip("help texts are the program's own, UTF-8")
		}
		r := NewRegistry()
		r.NewCounterVec("c_total", help, "v").WithLabelValues(value).Inc()
		r.NewHistogramVec("h", help, []float64{1}, "v").WithLabelValues(value).Observe(0.5)
		fams := parse(t, render(t, r))
		want := strings.ToValidUTF8(value, "\uFFFD")
		for _, name := range []string{"c_total", "h"} {
			fam := fams[name]
			if fam == nil || len(fam.GetMetric()) != 1 {
				t.Fatalf("%s = %v", name, fam)
			}
			if got := labelsOf(fam.GetMetric()[0])["v"]; got != want {
				t.Errorf("%s label value = %q, want %q", name, got, want)
			}
			// The format separates HELP from its text by blanks, so leading
			// blanks of a help text cannot survive any writer.
			if want := strings.TrimLeft(help, " \t"); fam.GetHelp() != want {
				t.Errorf("%s help = %q, want %q", name, fam.GetHelp(), want)
			}
		}
	})
}

// TestGatewayLinksNoPrometheusClient keeps the gateway binary free of the
// Prometheus client, whose initialisation and size this package exists to
// avoid; it may appear in tests only. (protobuf does come in now, with the
// OpenTelemetry OTLP exporters: docs/OBSERVABILITY.md gives their cost.)
func TestGatewayLinksNoPrometheusClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "secure-mcp-gateway").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "github.com/prometheus/") {
			t.Errorf("the gateway binary links %s", dep)
		}
	}
	if !bytes.Contains(out, []byte("secure-mcp-gateway/internal/promtext")) {
		t.Error("the gateway does not link internal/promtext; is the package list what this test expects?")
	}
}
