package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"secure-mcp-gateway/internal/config"
)

func TestStringPaths(t *testing.T) {
	tests := []struct {
		raw  string
		want []string
	}{
		{`{"command":"ls","n":3}`, []string{"arguments.command", "arguments.command", "arguments.n"}},
		{`{"files":["a","b"],"opts":{"deep":{"x":"y"}}}`, []string{"arguments.files", "arguments.files[0]", "arguments.files[1]",
			"arguments.opts", "arguments.opts.deep", "arguments.opts.deep.x", "arguments.opts.deep.x"}},
		{`{"odd key":"v","é":"w"}`, []string{`arguments["odd key"]`, `arguments["odd key"]`, `arguments["é"]`, `arguments["é"]`}},
		{`[{"a":"b"},"c",[["d"]]]`, []string{"arguments[0].a", "arguments[0].a", "arguments[1]", "arguments[2][0][0]"}},
		{`"top"`, []string{"arguments"}},
		{`{"e":"a\"b","f":null,"g":true,"h":"x"}`, []string{"arguments.e", "arguments.e", "arguments.f", "arguments.g", "arguments.h", "arguments.h"}},
	}
	for _, tt := range tests {
		got := stringPaths([]byte(tt.raw), "arguments")
		if !slices.Equal(got, tt.want) {
			t.Errorf("stringPaths(%s) = %q, want %q", tt.raw, got, tt.want)
		}
		if n := len(jsonStrings([]byte(tt.raw), false, nil)); n != len(got) {
			t.Errorf("%s: %d paths for %d strings", tt.raw, len(got), n)
		}
	}
}

// FuzzStringPaths: for any valid JSON there is one path per string that
// jsonStrings lists, so a finding's index names its field.
func FuzzStringPaths(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `[1,"x",{"y":[true,"z"]}]`, `{"a\"b":{"":""}}`, `"s"`, `{}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if !json.Valid([]byte(raw)) {
			return
		}
		if p, s := len(stringPaths([]byte(raw), "arguments")), len(jsonStrings([]byte(raw), false, nil)); p != s {
			t.Fatalf("%q: %d paths for %d strings", raw, p, s)
		}
	})
}

func TestViolationsNameTheirField(t *testing.T) {
	sp := []Finding{{Detector: DetectorPII, Rule: "email"}}
	per := [][]Finding{nil, sp, nil, nil}
	paths := stringPaths([]byte(`{"to":"alice@example.com","n":1}`), "arguments")
	got := fieldViolations("input", ActionRedact, per, paths, func(int, Finding) bool { return true })
	want := []Violation{{Stage: "input", Detector: DetectorPII, Rule: "email", Field: "arguments.to", Action: ActionRedact}}
	if !slices.Equal(got, want) {
		t.Errorf("fieldViolations = %+v, want %+v", got, want)
	}
}

// TestBlockNamesTheField: a blocked call's violations say which argument
// held what fired, a number included (without a path: numbers are scanned
// as text after the strings).
func TestBlockNamesTheField(t *testing.T) {
	e := NewEngine(&Options{Servers: []*config.Server{{Name: "s", InputGuardrailsPolicy: &config.Policy{Enabled: true, Block: []string{"secrets", "pii"}}}}})
	_, _, err := e.CheckCall(context.Background(), "s", "t", json.RawMessage(`{"opts":{"env":["A=1","KEY=`+testAWSKey+`"]},"to":"bob@example.com"}`))
	var be *BlockedError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a block", err)
	}
	fields := map[string]string{}
	for _, v := range be.Violations {
		fields[v.Detector] = v.Field
	}
	if fields["secrets"] != "arguments.opts.env[1]" || fields["pii"] != "arguments.to" {
		t.Errorf("fields = %v, want secrets at arguments.opts.env[1] and pii at arguments.to", fields)
	}
	if strings.Contains(fmt.Sprint(be.Violations), testAWSKey) {
		t.Error("a violation holds the matched text")
	}
}
