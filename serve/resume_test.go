package serve

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestSessionSealer(t *testing.T) {
	log := zerolog.Nop()
	a := newSessionSealer(context.Background(), nil, &log)
	other := newSessionSealer(context.Background(), nil, &log)
	params := json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{"roots":{}},"clientInfo":{"name":"c","version":"1"}}`)
	id := a.mint("sha256:aa", params)
	if !strings.HasPrefix(id, resumablePrefix) {
		t.Fatalf("id %q is not sealed", id)
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("id has %q, outside the visible ASCII the spec allows", c)
		}
	}
	st, ok := a.open(id)
	if !ok || st.Key != "sha256:aa" || string(st.Params) != string(params) {
		t.Fatalf("open: %v %+v", ok, st)
	}
	if a.mint("sha256:aa", params) == id {
		t.Error("two sessions got one id")
	}
	tampered := id[:len(id)-2] + "AA"
	if tampered == id {
		tampered = id[:len(id)-2] + "BB"
	}
	tests := map[string]string{
		"another gateway's key": other.mint("sha256:aa", params),
		"tampered":              tampered,
		"random":                "r1.abcdef",
		"plain":                 "0123456789",
		"empty":                 "",
	}
	for name, id := range tests {
		if _, ok := a.open(id); ok {
			t.Errorf("%s: opened", name)
		}
	}
	big := json.RawMessage(`{"x":"` + strings.Repeat("a", maxResumeParams) + `"}`)
	if id := a.mint("sha256:aa", big); strings.HasPrefix(id, resumablePrefix) {
		t.Error("oversized params were sealed")
	}
}
