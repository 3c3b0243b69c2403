package main

import (
	"bytes"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestHarnessSmoke runs the harness for a handful of calls against the
// direct and gateway stdio targets and checks that it produces a row for
// each with figures in it. It checks the harness works, not timings.
func TestHarnessSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway")
	}
	o := &options{runs: 1, seq: 5, conc: 8, workers: 4, only: "direct,stdio+guard", nodeDir: "../../testdata/bench-node"}
	var out bytes.Buffer
	if err := run(t.Context(), o, &out); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"| direct | go |", "| stdio+guard | go |"} {
		if !strings.Contains(out.String(), row) {
			t.Errorf("no row %q in:\n%s", row, out.String())
		}
	}
	if strings.Contains(out.String(), "| 0 (") {
		t.Errorf("a target made no calls:\n%s", out.String())
	}
}

func TestParseCounts(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		err  bool
	}{
		{in: "10,25, 50", want: []int{10, 25, 50}},
		{in: "7", want: []int{7}},
		{in: "10,,20,", want: []int{10, 20}},
		{in: "", err: true},
		{in: "0", err: true},
		{in: "-3", err: true},
		{in: "ten", err: true},
	} {
		got, err := parseCounts(tc.in)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("parseCounts(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestSelectTargets(t *testing.T) {
	all := allTargets(&options{bin: "gw", nodeDir: "node"})
	names := func(ts []*target) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.name)
		}
		return out
	}
	if got := names(selectTargets(slices.Clone(all), "")); slices.Contains(got, "http") || !slices.Contains(got, "stdio+guard") {
		t.Errorf("default targets %v: want all but the cluster ones", got)
	}
	if got := names(selectTargets(slices.Clone(all), "http,http+haproxy+redis")); !slices.Equal(got, []string{"http", "http+haproxy+redis"}) {
		t.Errorf("-only http,http+haproxy+redis selected %v", got)
	}
}

func TestSettled(t *testing.T) {
	s := func(rss, pss float64, procs int) memSample {
		return memSample{Gateway: rollup{RSS: rss}, Tree: rollup{PSS: pss}, Procs: procs}
	}
	for _, tc := range []struct {
		name    string
		samples []memSample
		want    bool
	}{
		{"too few", []memSample{s(20, 30, 3), s(20, 30, 3)}, false},
		{"flat", []memSample{s(50, 90, 3), s(20, 30, 3), s(20.2, 30.1, 3), s(20.1, 30.3, 3)}, true},
		{"rss still falling", []memSample{s(25, 30, 3), s(22, 30, 3), s(20, 30, 3)}, false},
		{"pss within 1 %", []memSample{s(20, 300, 3), s(20, 302, 3), s(20, 301, 3)}, true},
		{"a process came", []memSample{s(20, 30, 3), s(20, 30, 3), s(20, 30, 4)}, false},
	} {
		if got := settled(tc.samples); got != tc.want {
			t.Errorf("%s: settled = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestFit(t *testing.T) {
	a, b := fitLine([]float64{10, 20, 40}, []float64{25, 30, 40})
	if math.Abs(a-20) > 1e-9 || math.Abs(b-0.5) > 1e-9 {
		t.Errorf("fitLine = %v + %v·x, want 20 + 0.5·x", a, b)
	}
	if n := fitAt(200, 20, 0.5); n != 360 {
		t.Errorf("fitAt(200, 20, 0.5) = %d, want 360", n)
	}
	if n := fitAt(200, 20, 0); n != -1 {
		t.Errorf("fitAt with no growth = %d, want -1 (unbounded)", n)
	}
}

// TestReadRollup reads this test process's own memory from /proc.
func TestReadRollup(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	s := sampleTree(os.Getpid())
	if s.Gateway.RSS <= 0 || s.Gateway.PSS <= 0 || s.Tree.RSS < s.Gateway.RSS || s.Procs < 1 {
		t.Errorf("own memory: %+v", s)
	}
}
