package promtext

import (
	"bytes"
	"fmt"
	"math"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func render(t *testing.T, r *Registry) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := r.WriteTo(&b); err != nil {
		t.Fatalf("WriteTo: %v", err)
	}
	return b.String()
}

func TestWriteTo(t *testing.T) {
	tests := []struct {
		name  string
		build func(r *Registry)
		want  string
	}{
		{
			name:  "empty registry",
			build: func(*Registry) {},
			want:  "",
		},
		{
			name: "unlabelled gauge is written at 0, an unused vec is left out",
			build: func(r *Registry) {
				r.NewGauge("b_open", "Open things.")
				r.NewCounterVec("a_total", "Never used.", "x")
			},
			want: "# HELP b_open Open things.\n# TYPE b_open gauge\nb_open 0\n",
		},
		{
			name: "label values escaped: backslash, double quote, newline",
			build: func(r *Registry) {
				c := r.NewCounterVec("c_total", "Calls.", "tool")
				c.WithLabelValues(`a\b`).Inc()
				c.WithLabelValues(`say "hi"`).Add(2)
				c.WithLabelValues("two\nlines").Add(0.5)
			},
			want: "# HELP c_total Calls.\n# TYPE c_total counter\n" +
				`c_total{tool="a\\b"} 1` + "\n" +
				`c_total{tool="say \"hi\""} 2` + "\n" +
				`c_total{tool="two\nlines"} 0.5` + "\n",
		},
		{
			name: "help escapes backslash and newline but not the double quote",
			build: func(r *Registry) {
				r.NewGauge("g", "A \"quoted\" C:\\path\nand a second line.")
			},
			want: "# HELP g A \"quoted\" C:\\\\path\\nand a second line.\n# TYPE g gauge\ng 0\n",
		},
		{
			name: "families sorted by name, series by label values in label order",
			build: func(r *Registry) {
				z := r.NewGauge("zz", "Z.")
				z.Set(-1.25)
				c := r.NewCounterVec("aa_total", "A.", "server", "tool")
				c.WithLabelValues("s2", "a").Inc()
				c.WithLabelValues("s1", "z").Inc()
				c.WithLabelValues("s1", "b").Inc()
				c.WithLabelValues("s1", "b").Inc()
			},
			want: "# HELP aa_total A.\n# TYPE aa_total counter\n" +
				"aa_total{server=\"s1\",tool=\"b\"} 2\n" +
				"aa_total{server=\"s1\",tool=\"z\"} 1\n" +
				"aa_total{server=\"s2\",tool=\"a\"} 1\n" +
				"# HELP zz Z.\n# TYPE zz gauge\nzz -1.25\n",
		},
		{
			name: "labels written sorted by name, series sorted in that order, as the Prometheus client does",
			build: func(r *Registry) {
				c := r.NewCounterVec("calls_total", "C.", "server", "tool", "outcome")
				c.WithLabelValues("s1", "echo", "ok").Inc()
				c.WithLabelValues("s2", "echo", "blocked").Inc()
				c.WithLabelValues("s0", "echo", "ok").Inc()
				h := r.NewHistogramVec("d", "D.", []float64{1}, "z", "a")
				h.WithLabelValues("last", "first").Observe(2)
			},
			want: "# HELP calls_total C.\n# TYPE calls_total counter\n" +
				"calls_total{outcome=\"blocked\",server=\"s2\",tool=\"echo\"} 1\n" +
				"calls_total{outcome=\"ok\",server=\"s0\",tool=\"echo\"} 1\n" +
				"calls_total{outcome=\"ok\",server=\"s1\",tool=\"echo\"} 1\n" +
				"# HELP d D.\n# TYPE d histogram\n" +
				"d_bucket{a=\"first\",z=\"last\",le=\"1\"} 0\n" +
				"d_bucket{a=\"first\",z=\"last\",le=\"+Inf\"} 1\n" +
				"d_sum{a=\"first\",z=\"last\"} 2\n" +
				"d_count{a=\"first\",z=\"last\"} 1\n",
		},
		{
			name: "label tuples that would collide when joined stay apart",
			build: func(r *Registry) {
				c := r.NewCounterVec("j_total", "J.", "a", "b")
				c.WithLabelValues("1:x", "").Inc()
				c.WithLabelValues("1", ":x").Add(3)
			},
			want: "# HELP j_total J.\n# TYPE j_total counter\n" +
				"j_total{a=\"1\",b=\":x\"} 3\n" +
				"j_total{a=\"1:x\",b=\"\"} 1\n",
		},
		{
			name: "invalid UTF-8 in a label value becomes U+FFFD",
			build: func(r *Registry) {
				c := r.NewCounterVec("u_total", "U.", "tool")
				c.WithLabelValues("a\xffb").Inc()
				c.WithLabelValues("a\uFFFDb").Inc()
			},
			want: "# HELP u_total U.\n# TYPE u_total counter\nu_total{tool=\"a\uFFFDb\"} 2\n",
		},
		{
			name: "special float values",
			build: func(r *Registry) {
				r.NewGaugeVec("f", "F.", "k").WithLabelValues("inf").Set(math.Inf(1))
				r.NewGaugeFunc("n", "N.", func() (float64, bool) { return math.NaN(), true })
				r.NewGaugeFunc("omitted", "Not known here.", func() (float64, bool) { return 0, false })
				r.NewCounter("big_total", "Big.").Add(1e21)
			},
			want: "# HELP big_total Big.\n# TYPE big_total counter\nbig_total 1e+21\n" +
				"# HELP f F.\n# TYPE f gauge\nf{k=\"inf\"} +Inf\n" +
				"# HELP n N.\n# TYPE n gauge\nn NaN\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			tt.build(r)
			if diff := cmp.Diff(tt.want, render(t, r)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHistogramBucketsAreCumulative(t *testing.T) {
	tests := []struct {
		name    string
		buckets []float64
		obs     []float64
		want    string
	}{
		{
			name:    "no observation",
			buckets: []float64{0.1, 1},
			obs:     nil,
			want: `h_bucket{s="x",le="0.1"} 0
h_bucket{s="x",le="1"} 0
h_bucket{s="x",le="+Inf"} 0
h_sum{s="x"} 0
h_count{s="x"} 0
`,
		},
		{
			name:    "a value on a bound falls in that bucket, above all in +Inf only",
			buckets: []float64{0.1, 1, 10},
			obs:     []float64{0.05, 0.1, 0.5, 1, 3, 100},
			want: `h_bucket{s="x",le="0.1"} 2
h_bucket{s="x",le="1"} 4
h_bucket{s="x",le="10"} 5
h_bucket{s="x",le="+Inf"} 6
h_sum{s="x"} 104.65
h_count{s="x"} 6
`,
		},
		{
			name:    "exponential layout",
			buckets: ExponentialBuckets(0.0005, 2, 3),
			obs:     []float64{0.0001, 0.0015, 0.0015},
			want: `h_bucket{s="x",le="0.0005"} 1
h_bucket{s="x",le="0.001"} 1
h_bucket{s="x",le="0.002"} 3
h_bucket{s="x",le="+Inf"} 3
h_sum{s="x"} ` + formatFloat(sumOf(0.0001, 0.0015, 0.0015)) + `
h_count{s="x"} 3
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry()
			h := r.NewHistogramVec("h", "H.", tt.buckets, "s").WithLabelValues("x")
			for _, v := range tt.obs {
				h.Observe(v)
			}
			got := strings.TrimPrefix(render(t, r), "# HELP h H.\n# TYPE h histogram\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

// sumOf adds in float64 at run time, in the order Observe does (a constant
// expression would be exact).
func sumOf(vs ...float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s
}

func TestExponentialBuckets(t *testing.T) {
	got := ExponentialBuckets(0.0001, 2, 20)
	if len(got) != 20 || got[0] != 0.0001 || got[19] != 0.0001*(1<<19) {
		t.Fatalf("ExponentialBuckets(0.0001, 2, 20) = %v", got)
	}
}

// TestConcurrentUpdates hammers every kind of metric, and writes, from many
// goroutines; -race checks the locking and the totals check no update is
// lost.
func TestConcurrentUpdates(t *testing.T) {
	const workers, each = 8, 500
	r := NewRegistry()
	calls := r.NewCounterVec("calls_total", "Calls.", "server")
	open := r.NewGauge("open", "Open.")
	lat := r.NewHistogramVec("lat_seconds", "Latency.", []float64{0.5, 1}, "server")
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			server := fmt.Sprintf("s%d", w%2)
			for i := range each {
				calls.WithLabelValues(server).Inc()
				open.Inc()
				lat.WithLabelValues(server).Observe(float64(i%3) * 0.5) // 0, 0.5, 1
				open.Dec()
				if i%100 == 0 {
					_, _ = r.WriteTo(&bytes.Buffer{})
				}
			}
		})
	}
	wg.Wait()
	for _, s := range []string{"s0", "s1"} {
		if got, want := calls.WithLabelValues(s).Value(), float64(workers/2*each); got != want {
			t.Errorf("calls{%s} = %v, want %v", s, got, want)
		}
		cum, _, count := lat.WithLabelValues(s).snapshot()
		if count != workers/2*each || cum[len(cum)-1] != count {
			t.Errorf("lat{%s}: buckets %v, count %d, want every observation ≤ 1 among %d", s, cum, count, workers/2*each)
		}
	}
	if got := open.Value(); got != 0 {
		t.Errorf("open = %v after as many Dec as Inc", got)
	}
}

func TestHandler(t *testing.T) {
	r := NewRegistry()
	r.NewGauge("up", "Up.").Set(1)
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if got := rec.Header().Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", got)
	}
	if got, want := rec.Body.String(), "# HELP up Up.\n# TYPE up gauge\nup 1\n"; got != want {
		t.Errorf("body = %q, want %q", got, want)
	}
}

func TestProgrammerErrorsPanic(t *testing.T) {
	tests := []struct {
		name string
		do   func(r *Registry)
	}{
		{"bad metric name", func(r *Registry) { r.NewGauge("1abc", "x") }},
		{"empty metric name", func(r *Registry) { r.NewGauge("", "x") }},
		{"bad label name", func(r *Registry) { r.NewCounterVec("a", "x", "a-b") }},
		{"colon in a label name", func(r *Registry) { r.NewCounterVec("a", "x", "a:b") }},
		{"reserved label name", func(r *Registry) { r.NewCounterVec("a", "x", "__name__") }},
		{"duplicate label name", func(r *Registry) { r.NewCounterVec("a", "x", "k", "k") }},
		{"registered twice", func(r *Registry) { r.NewGauge("a", "x"); r.NewGauge("a", "y") }},
		{"wrong number of label values", func(r *Registry) { r.NewCounterVec("a", "x", "k", "l").WithLabelValues("v") }},
		{"counter decreased", func(r *Registry) { r.NewCounter("a", "x").Add(-1) }},
		{"le on a histogram", func(r *Registry) { r.NewHistogramVec("h", "x", []float64{1}, "le") }},
		{"unsorted buckets", func(r *Registry) { r.NewHistogramVec("h", "x", []float64{2, 1}) }},
		{"infinite bucket", func(r *Registry) { r.NewHistogramVec("h", "x", []float64{1, math.Inf(1)}) }},
		{"bad exponential buckets", func(*Registry) { ExponentialBuckets(0, 2, 3) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			tt.do(NewRegistry())
		})
	}
}

func BenchmarkCounterWithLabelValues(b *testing.B) {
	c := NewRegistry().NewCounterVec("calls_total", "Calls.", "server", "tool", "outcome")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.WithLabelValues("echo_server", "echo", "ok").Inc()
		}
	})
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewRegistry().NewHistogramVec("lat_seconds", "Latency.", ExponentialBuckets(0.0001, 2, 20), "server")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.WithLabelValues("echo_server").Observe(0.0012)
		}
	})
}

func BenchmarkWriteTo(b *testing.B) {
	r := NewRegistry()
	r.RegisterRuntime()
	c := r.NewCounterVec("calls_total", "Calls.", "server", "tool", "outcome")
	h := r.NewHistogramVec("lat_seconds", "Latency.", ExponentialBuckets(0.0001, 2, 20), "server")
	for i := range 20 {
		s := fmt.Sprintf("server%d", i%5)
		c.WithLabelValues(s, fmt.Sprintf("tool%d", i), "ok").Inc()
		h.WithLabelValues(s).Observe(0.001)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		_, _ = r.WriteTo(&buf)
	}
}
