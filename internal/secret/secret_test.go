package secret

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestStringMasksEverywhere(t *testing.T) {
	const v = "sk-live-0123456789abcdef"
	s := String(v)
	var log strings.Builder
	zl := zerolog.New(&log)
	zl.Info().Interface("s", s).Str("str", s.String()).Msg("")
	j, _ := json.Marshal(map[string]any{"s": s})
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", s), "%s": fmt.Sprintf("%s", s), "%q": fmt.Sprintf("%q", s),
		"%#v": fmt.Sprintf("%#v", s), "%x": fmt.Sprintf("%x", s), "json": string(j), "zerolog": log.String(),
	} {
		if strings.Contains(out, v) || strings.Contains(out, fmt.Sprintf("%x", v)) {
			t.Errorf("%s prints the secret: %s", name, out)
		}
	}
	if s.Reveal() != v {
		t.Error("Reveal lost the value")
	}
	if String("").String() != "" {
		t.Error("the empty secret should print as empty")
	}
}

func TestRedactor(t *testing.T) {
	var r Redactor
	if got := r.Redact("nothing registered"); got != "nothing registered" {
		t.Errorf("zero Redactor changed text: %q", got)
	}
	r.Add("abc", "token-123456", "token-123456-extended", "")
	tests := []struct{ in, want string }{
		{"key=token-123456 end", "key=" + Masked + " end"},
		{"token-123456-extended", Masked},
		{"abc is too short to redact", "abc is too short to redact"},
	}
	for _, tt := range tests {
		if got := r.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	var nilR *Redactor
	if nilR.Redact("x") != "x" {
		t.Error("nil Redactor changed text")
	}
}

func TestFingerprintStable(t *testing.T) {
	a1, a2 := Fingerprint("a"), Fingerprint("a")
	if a1 != a2 || a1 == Fingerprint("b") || len(a1) != 8 {
		t.Error("fingerprints are not stable 8-hex-digit digests")
	}
}
